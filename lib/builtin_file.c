/* placeholder */ typedef int afk__placeholder_builtin_file;
