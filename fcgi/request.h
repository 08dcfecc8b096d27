/* request.h -- placeholder */
