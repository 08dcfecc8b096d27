/* park.c -- placeholder, being written. */
