"""The librarian: content-addressed file storage, its client and its web
server.

L{storage} keeps the bytes, L{client} records aliases and hands out URLs,
L{server} serves C{/<alias id>/<filename>} over HTTP, L{buildlog} streams a
builder's log into it gzipped.
"""
