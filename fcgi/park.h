/* park.h -- placeholder */
