/* handlers.h -- placeholder */
