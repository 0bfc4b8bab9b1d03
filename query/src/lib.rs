//! pinauth query (to come).
