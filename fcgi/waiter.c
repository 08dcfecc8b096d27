/* waiter.c -- placeholder, being written. */
