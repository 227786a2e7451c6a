/* placeholder */ typedef int smtpc_posix_tls_placeholder;
