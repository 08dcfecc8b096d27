/* loop.h -- placeholder */
