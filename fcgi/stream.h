/* stream.h -- placeholder */
