"""The CJ engine: pure numpy/scipy statistics (no Django): scales, scoring, pairing, grading, stopping, agreement, simulation."""
