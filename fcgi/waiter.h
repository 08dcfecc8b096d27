/* waiter.h -- placeholder */
