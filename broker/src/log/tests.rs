//! Property tests of the partition log.
