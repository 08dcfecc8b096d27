/* bus.h -- placeholder */
