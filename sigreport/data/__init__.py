"""Data: IDX files, sources, and preparation into trained and probe splits."""

from sigreport.data.idx import IdxArray, parse_idx, read_idx
from sigreport.data.prepare import Dataset, Split, prepare_dataset
from sigreport.data.sources import SOURCES, RawData, describe_sources, load_raw

__all__ = [
    "IdxArray",
    "parse_idx",
    "read_idx",
    "Dataset",
    "Split",
    "prepare_dataset",
    "SOURCES",
    "RawData",
    "describe_sources",
    "load_raw",
]
