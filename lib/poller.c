/* placeholder */ typedef int afk__placeholder_poller;
