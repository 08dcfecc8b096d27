/* aredis.h -- placeholder */
