"""C{account add|set|list} and C{token create|revoke|list}: the web and
API accounts, their roles and tokens."""

import getpass
import sys

from twisted.internet import defer

from lp_buildmaster import formatting
from lp_buildmaster.admin.command import (
    AdminError, cliActor, group, jsonOption, positiveInt, runWithStore)
from lp_buildmaster.admin.render import output, table
from lp_buildmaster.model.names import builderNameProblem


def cmd_account_add(args, config, dsn):
    """Create an account with a role; --password reads one from stdin."""
    from lp_buildmaster.store.accounts import DuplicateAccount, hashPassword
    problem = builderNameProblem(args.name)
    if problem:
        raise AdminError(problem.replace("builder name", "account name"))
    password_hash = None
    if args.password:
        password_hash = hashPassword(readPassword())

    @defer.inlineCallbacks
    def add(store):
        from lp_buildmaster.store.accounts import AccountStore
        try:
            account_id = yield AccountStore(store).add(
                args.name, args.role, password_hash)
        except DuplicateAccount:
            raise AdminError("an account named %r exists already"
                             % (args.name,))
        yield AccountStore(store).record(
            cliActor().name, cliActor().origin, "account add",
            detail="%s (%s)" % (args.name, args.role))
        return account_id
    account_id = runWithStore(dsn, add)
    output(args, {"id": account_id, "name": args.name, "role": args.role},
           lambda r: "account %(name)s added (id %(id)d, %(role)s)" % r)


def readPassword():
    """A password from stdin (a terminal prompts without echo)."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise AdminError("a password needs at least 8 characters")
    return password


def cmd_account_set(args, config, dsn):
    """Change an account's role, or its password (--password, stdin)."""
    from lp_buildmaster.store.accounts import AccountStore, hashPassword
    if args.role is None and not args.password:
        args.parser.error("account set needs --role or --password")
    password_hash = hashPassword(readPassword()) if args.password else None

    @defer.inlineCallbacks
    def update(store):
        accounts = AccountStore(store)
        account = yield accounts.getByName(args.name)
        if account is None:
            raise AdminError("unknown account %r" % (args.name,))
        yield accounts.update(account.id, role=args.role,
                              password_hash=password_hash)
        yield accounts.record(
            cliActor().name, cliActor().origin, "account set",
            detail="%s%s%s" % (args.name, " role %s" % args.role
                               if args.role else "",
                               " password" if password_hash else ""))
        return (yield accounts.getByName(args.name))
    account = runWithStore(dsn, update)
    output(args, {"name": account.name, "role": account.role},
           lambda r: "account %(name)s: %(role)s" % r)


def cmd_account_list(args, config, dsn):
    """List the accounts with their roles and live tokens."""
    from lp_buildmaster.store.accounts import AccountStore
    rows = runWithStore(dsn, lambda store: AccountStore(store).all())
    output(args, rows, lambda rows: table(
        ["NAME", "ROLE", "PASSWORD", "TOKENS"],
        [[r["name"], r["role"], "yes" if r["has_password"] else "no",
          r["tokens"]] for r in rows]))


def cmd_token_create(args, config, dsn):
    """Create an API token for an account; it is printed once."""
    from lp_buildmaster.store.accounts import AccountStore

    @defer.inlineCallbacks
    def create(store):
        accounts = AccountStore(store)
        account = yield accounts.getByName(args.account)
        if account is None:
            raise AdminError("unknown account %r" % (args.account,))
        token_id, secret = yield accounts.createToken(
            account.id, args.description or "")
        yield accounts.record(cliActor().name, cliActor().origin,
                              "token create",
                              detail="token %d for %s" % (token_id,
                                                          account.name))
        return {"id": token_id, "account": account.name,
                "role": account.role, "token": secret}
    row = runWithStore(dsn, create)
    output(args, row, lambda r: (
        "token %(id)d for %(account)s (%(role)s); it is shown only now:\n"
        "%(token)s" % r))


def cmd_token_revoke(args, config, dsn):
    """Revoke an API token by its id."""
    from lp_buildmaster.store.accounts import AccountStore

    @defer.inlineCallbacks
    def revoke(store):
        accounts = AccountStore(store)
        if not (yield accounts.revokeToken(args.id)):
            raise AdminError("no live token %d" % (args.id,))
        yield accounts.record(cliActor().name, cliActor().origin,
                              "token revoke", detail="token %d" % args.id)
    runWithStore(dsn, revoke)
    output(args, {"id": args.id, "revoked": True},
           lambda r: "token %(id)d revoked" % r)


def cmd_token_list(args, config, dsn):
    """List the API tokens (never their secrets)."""
    from lp_buildmaster.store.accounts import AccountStore
    rows = runWithStore(dsn, lambda store: AccountStore(store).tokens())
    output(args, rows, lambda rows: table(
        ["ID", "ACCOUNT", "CREATED", "REVOKED", "DESCRIPTION"],
        [[r["id"], r["account"], formatting.textTime(r["datecreated"]),
          formatting.textTime(r["date_revoked"])
          if r["date_revoked"] else "", r["description"]] for r in rows]))


def addAccountCommands(sub):
    from lp_buildmaster.store.accounts import ROLES
    account = group(sub, "account", "web and API accounts and their roles")
    p = account.add_parser("add", help=cmd_account_add.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--password", action="store_true",
                   help="read a password for the login form from stdin")
    jsonOption(p)
    p.set_defaults(func=cmd_account_add)
    p = account.add_parser("set", help=cmd_account_set.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", choices=ROLES)
    p.add_argument("--password", action="store_true")
    jsonOption(p)
    p.set_defaults(func=cmd_account_set, parser=p)
    p = account.add_parser("list", help=cmd_account_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_account_list)

    token = group(sub, "token", "API tokens")
    p = token.add_parser("create", help=cmd_token_create.__doc__)
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--description", metavar="TEXT")
    jsonOption(p)
    p.set_defaults(func=cmd_token_create)
    p = token.add_parser("revoke", help=cmd_token_revoke.__doc__)
    p.add_argument("id", type=positiveInt, metavar="ID")
    jsonOption(p)
    p.set_defaults(func=cmd_token_revoke)
    p = token.add_parser("list", help=cmd_token_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_token_list)
