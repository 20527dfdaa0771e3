# Buzzline wire protocol v1: the contract between podiums and host.
