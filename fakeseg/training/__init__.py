"""Pieces of the training engine (`fakeseg.train.fit`): config, data assembly, validation, state, reports."""
