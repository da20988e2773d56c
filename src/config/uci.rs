//! A small UCI file reader and writer (to be written).
