//! FIXME(in progress): the dated price table of the savings detectors.
