//! Sluice test suites live in tests/; fixtures in fixtures/.
