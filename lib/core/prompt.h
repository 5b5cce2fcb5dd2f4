/*
 * lib/core/prompt.h - the prompt a dispatch sends.  Internal, pure.
 */
#ifndef AFK_LIB_PROMPT_H
#define AFK_LIB_PROMPT_H

/* The built-in issue-implementer preamble. */
extern const char afk__default_preamble[];

/* preamble (NULL: the built-in one), then a pointer to repo#number.  The
 * issue's title and body are never pasted in: they are untrusted input
 * aimed at a full-access agent, which fetches the issue itself.  Returns
 * a string the caller frees, or NULL when memory ran out. */
char *afk__prompt_build(const char *preamble, const char *repo, long number);

#endif
