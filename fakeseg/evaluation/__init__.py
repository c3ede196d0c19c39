"""The parts of `fakeseg.evaluate`: inputs, face crops, tallies, calibration and the report."""
