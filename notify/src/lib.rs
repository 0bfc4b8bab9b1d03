//! pinauth notify (to come).
