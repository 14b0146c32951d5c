"""Data: IDX files, sources, and preparation into trained and probe splits."""

from sigreport.data.idx import IdxArray, parse_idx, read_idx
from sigreport.data.prepare import Dataset, Split, check_data, prepare_dataset
from sigreport.data.sources import SOURCES, RawData, describe_sources, load_raw

__all__ = [
    "SOURCES",
    "Dataset",
    "IdxArray",
    "RawData",
    "Split",
    "check_data",
    "describe_sources",
    "load_raw",
    "parse_idx",
    "prepare_dataset",
    "read_idx",
]
