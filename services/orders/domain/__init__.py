"""Pure domain rules of the orders service: no I/O, no database, no event loop."""
