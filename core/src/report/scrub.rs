//! Probe IP scrubbing, as OONI does it.
