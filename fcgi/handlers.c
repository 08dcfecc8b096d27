/* handlers.c -- placeholder, being written. */
