"""Other projects' file formats, read and written beside our JSONL records: DCASE SELD metadata CSV
(dcase.py) and BAT's SpatialSoundQA question files (spatialsoundqa.py). docs/formats.md describes both."""
