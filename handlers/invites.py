"""/invite: a one-time deep link that links whoever opens it to a unit, or to the committee."""

from __future__ import annotations

from handlers.base import Request, UsageError, UserError, command, expect_args
from storage.invites import create_invite
from storage.models import Role
from storage.register import find_unit
from texts.invites import invite_text

UNIT_ROLE_WORDS = {"focal": Role.FOCAL, "head": Role.HEAD}


@command("invite")
async def invite(req: Request) -> None:
    spec = req.command("invite")
    args = expect_args(req, spec, 1, 2)
    services = req.services
    async with services.db.session() as session:
        if args[0].lower() == "secretary":
            role, code = Role.SECRETARY, (args[1] if len(args) > 1 else None)
            if code is None and not req.actor.is_admin:
                raise UserError("Only an administrator can invite a secretary.")
        else:
            word = args[1].lower() if len(args) > 1 else "focal"
            if word not in UNIT_ROLE_WORDS:
                raise UsageError(spec, "The role must be focal or head.")
            role, code = UNIT_ROLE_WORDS[word], args[0]
        unit = await find_unit(session, code=code) if code is not None else None
        # A unit outside the sender's scope is answered as an unknown one: a scope shows nothing beyond it.
        if code is not None and (unit is None or not req.actor.manages(unit)):
            raise UserError("There is no unit with the code {code}.", code=code)
        created = await create_invite(
            session,
            role=role,
            unit_id=unit.id if unit else None,
            created_by_id=req.actor.person_id,
            now=services.now(),
            ttl_days=services.settings.invite_ttl_days,
        )
    await req.reply(
        invite_text(
            req.lang,
            role=role,
            unit=unit,
            bot_username=req.context.bot.username,
            code=created.code,
            expires_at=created.expires_at,
            tz=services.settings.tz,
        )
    )
