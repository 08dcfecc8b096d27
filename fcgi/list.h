/* list.h -- an intrusive doubly linked list with a count (loop thread data). */
#ifndef RR_LIST_H
#define RR_LIST_H

#include <stddef.h>

struct list_link {
    struct list_link *prev, *next;
};

struct list {
    struct list_link head;       /* sentinel */
    size_t count;
};

/* The struct of type that holds link as its member. */
#define list_entry(link, type, member) ((type *)((char *)(link) - offsetof(type, member)))

static inline void list_init(struct list *l)
{
    l->head.prev = l->head.next = &l->head;
    l->count = 0;
}

static inline void list_append(struct list *l, struct list_link *e)
{
    e->prev = l->head.prev;
    e->next = &l->head;
    l->head.prev->next = e;
    l->head.prev = e;
    l->count++;
}

static inline void list_remove(struct list *l, struct list_link *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
    l->count--;
}

/* The first link, or NULL when the list is empty. */
static inline struct list_link *list_first(const struct list *l)
{
    return l->head.next == &l->head ? NULL : l->head.next;
}

/* The link after e, or NULL at the end. */
static inline struct list_link *list_next(const struct list *l, const struct list_link *e)
{
    return e->next == &l->head ? NULL : e->next;
}

#endif
