/* aredis.c -- placeholder, being written. */
