/* placeholder */ typedef int afk__placeholder_jsonpos;
