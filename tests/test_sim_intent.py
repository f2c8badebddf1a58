"""`sim` at temperature 0 follows what a request means, on agents of domains its code never names.

Each agent below was written for this file from its tools' docstrings alone, as a developer would write them; their
instructions name the tools (as a new user's often do), so a model that calls whatever the text mentions gets them
wrong. For each prompt the expected responses (which calls, in which response, with the arguments that matter) were
worked out by hand from the tools' fixed data: a question is answered without a state-changing tool, an action whose
argument only a look-up provides waits for that look-up (in a later response), and a task that needs a tool's
result calls it. `test_no_agent_is_named_in_sims_code` proves the rules know none of these tools.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, ToolCallPart

import pytest_agentarch.backends.sim as sim_module
from conftest import ONE_CASE
from pytest_agentarch.backends._sim.intent import read_prompt
from pytest_agentarch.backends.sim import SimulatedModel, explain
from pytest_agentarch.core.divergence import divergence
from pytest_agentarch.core.records import RunRecord
from pytest_agentarch.run.capture import install
from pytest_agentarch.run.registry import Architecture
from pytest_agentarch.run.runner import CaseSpec, RunSettings, run_case

Step = list[tuple[str, dict[str, Any]]]
"""One model response: the calls it makes (any order), each with the arguments that must be there."""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One prompt to one agent, and what a competent model does with it."""

    name: str
    build: Callable[[], Agent[None, str]]
    prompt: str
    steps: list[Step]
    """The responses that call tools, in order; the answer follows."""


# --- banking -------------------------------------------------------------------------------------------------------


def bank() -> Agent[None, str]:
    agent = Agent(
        output_type=str,
        instructions=(
            'You are the helpdesk of a bank. Use get_balance for balances, list_transactions for payments and '
            'freeze_card to stop a card.'
        ),
    )

    @agent.tool_plain
    def get_balance(account_id: str) -> dict[str, Any]:
        """The current balance of an account.

        Args:
            account_id: The account number, e.g. 'AC-1001'.
        """
        return {'account_id': account_id, 'balance': 1520.35, 'currency': 'EUR'}

    @agent.tool_plain
    def list_transactions(account_id: str, days: int = 30) -> list[dict[str, Any]]:
        """The account's recent card transactions, newest first.

        Args:
            account_id: The account number.
            days: How many days back to look.
        """
        return [
            {'transaction_id': 'T-88', 'card_id': 'C-4421', 'merchant': 'QuickMart', 'amount': 89.9},
            {'transaction_id': 'T-87', 'card_id': 'C-4421', 'merchant': 'Rail', 'amount': 12.0},
        ]

    @agent.tool_plain
    def freeze_card(card_id: str) -> dict[str, Any]:
        """Freeze a card so that no new payment goes through.

        Args:
            card_id: The card to freeze.
        """
        return {'card_id': card_id, 'frozen': True}

    return agent


def card_desk() -> Agent[None, str]:
    """The bank's tools as a new user wrote them: docstrings that start with a verb and list what a look-up covers."""
    agent = Agent(
        output_type=str,
        instructions=(
            'You are the helpdesk of a bank. Use get_balance for balances, list_transactions for payments and '
            'freeze_card to stop a card.'
        ),
    )

    @agent.tool_plain
    def get_balance(account_id: str) -> dict[str, Any]:
        """Get the current balance of an account.

        Args:
            account_id: The account number, e.g. 'AC-1001'.
        """
        return {'account_id': account_id, 'balance': '120.50', 'currency': 'EUR'}

    @agent.tool_plain
    def list_transactions(account_id: str) -> list[dict[str, Any]]:
        """List the account's recent card transactions (payments, charges), newest first.

        Args:
            account_id: The account number, e.g. 'AC-1001'.
        """
        return [{'date': '2026-12-05', 'merchant': 'NETFLIX', 'amount': '-13.99', 'card_id': 'C-4421'}]

    @agent.tool_plain
    def freeze_card(card_id: str) -> dict[str, Any]:
        """Freeze a card so that no new payment goes through.

        Args:
            card_id: The card number, e.g. 'C-4421'.
        """
        return {'card_id': card_id, 'frozen': True}

    return agent


# --- travel booking ------------------------------------------------------------------------------------------------


def travel() -> Agent[None, str]:
    agent = Agent(
        output_type=str,
        instructions=(
            'You are a travel agent. search_flights finds flights, book_flight books a seat on one, cancel_booking '
            'cancels a booking.'
        ),
    )

    @agent.tool_plain
    def search_flights(origin: str, destination: str, date: str) -> list[dict[str, Any]]:
        """Flights between two cities on a date, cheapest first.

        Args:
            origin: The city to fly from.
            destination: The city to fly to.
            date: The day of travel, YYYY-MM-DD.
        """
        return [{'flight_id': 'FL-204', 'departs': f'{date}T07:15', 'price': 129}]

    @agent.tool_plain
    def book_flight(flight_id: str, passenger: str) -> dict[str, Any]:
        """Book a seat on a flight for a passenger.

        Args:
            flight_id: The flight to book.
            passenger: The passenger's full name.
        """
        return {'booking_id': 'BK-1', 'flight_id': flight_id, 'passenger': passenger}

    @agent.tool_plain
    def cancel_booking(booking_id: str) -> dict[str, Any]:
        """Cancel a booking and release the seat.

        Args:
            booking_id: The booking to cancel.
        """
        return {'booking_id': booking_id, 'cancelled': True}

    return agent


# --- library -------------------------------------------------------------------------------------------------------


def library() -> Agent[None, str]:
    agent = Agent(
        output_type=str,
        instructions=(
            'You run the front desk of a library. Use search_catalog, check_availability and reserve_book to help '
            'members.'
        ),
    )

    @agent.tool_plain
    def search_catalog(title: str) -> list[dict[str, Any]]:
        """Find books in the catalogue by title.

        Args:
            title: Words of the title.
        """
        return [{'book_id': 'B-301', 'title': 'Dune', 'author': 'Frank Herbert'}]

    @agent.tool_plain
    def check_availability(book_id: str) -> dict[str, Any]:
        """Whether copies of a book are on the shelf now.

        Args:
            book_id: The catalogue's id of the book.
        """
        return {'book_id': book_id, 'copies_on_shelf': 0, 'next_return': '2026-12-14'}

    @agent.tool_plain
    def reserve_book(book_id: str, member_id: str) -> dict[str, Any]:
        """Reserve a book for a member: the next copy returned is held for them.

        Args:
            book_id: The catalogue's id of the book.
            member_id: The member's card number.
        """
        return {'book_id': book_id, 'member_id': member_id, 'reserved': True}

    return agent


# --- shop orders ---------------------------------------------------------------------------------------------------


def orders() -> Agent[None, str]:
    agent = Agent(
        output_type=str,
        instructions='You handle orders of a web shop with list_orders, get_order_status and cancel_order.',
    )

    @agent.tool_plain
    def list_orders(customer_id: str) -> list[dict[str, Any]]:
        """A customer's orders, newest first.

        Args:
            customer_id: The customer's number, e.g. 'CU-7'.
        """
        return [{'order_id': 'OR-5512', 'placed': '2026-12-05', 'total': 64.0}]

    @agent.tool_plain
    def get_order_status(order_id: str) -> dict[str, Any]:
        """Where an order is: paid, packed, shipped or delivered.

        Args:
            order_id: The order's number.
        """
        return {'order_id': order_id, 'status': 'packed'}

    @agent.tool_plain
    def cancel_order(order_id: str) -> dict[str, Any]:
        """Cancel an order that has not shipped yet.

        Args:
            order_id: The order's number.
        """
        return {'order_id': order_id, 'cancelled': True}

    return agent


# --- calendar ------------------------------------------------------------------------------------------------------


def calendar() -> Agent[None, str]:
    agent = Agent(
        output_type=str,
        instructions='You manage a calendar: list_events shows a day, create_event adds a meeting.',
    )

    @agent.tool_plain
    def list_events(date: str) -> list[dict[str, Any]]:
        """The events on a day.

        Args:
            date: The day, YYYY-MM-DD.
        """
        return [{'event_id': 'EV-9', 'title': 'Standup', 'start': f'{date}T09:30'}]

    @agent.tool_plain
    def create_event(title: str, start: str, duration_minutes: int = 30) -> dict[str, Any]:
        """Add a meeting to the calendar.

        Args:
            title: What the meeting is about.
            start: When it starts, YYYY-MM-DDTHH:MM.
            duration_minutes: How long it lasts.
        """
        return {'event_id': 'EV-10', 'title': title, 'start': start}

    return agent


# --- IT tickets ----------------------------------------------------------------------------------------------------


def helpdesk() -> Agent[None, str]:
    agent = Agent(
        output_type=str,
        instructions='You triage IT tickets with search_tickets, get_ticket and assign_ticket.',
    )

    @agent.tool_plain
    def search_tickets(query: str) -> list[dict[str, Any]]:
        """Open tickets whose subject matches some words.

        Args:
            query: Words of the subject.
        """
        return [{'ticket_id': 'T-311', 'subject': 'VPN drops every hour'}]

    @agent.tool_plain
    def get_ticket(ticket_id: str) -> dict[str, Any]:
        """A ticket's subject, status and assignee.

        Args:
            ticket_id: The ticket's id, e.g. 'T-100'.
        """
        return {'ticket_id': ticket_id, 'status': 'open', 'assignee': None}

    @agent.tool_plain
    def assign_ticket(ticket_id: str, engineer: str) -> dict[str, Any]:
        """Assign a ticket to an engineer.

        Args:
            ticket_id: The ticket's id.
            engineer: Who takes it.
        """
        return {'ticket_id': ticket_id, 'assignee': engineer}

    return agent


Unit = Literal['cup', 'ml', 'gram', 'tablespoon']


# --- recipes and units ---------------------------------------------------------------------------------------------


def kitchen() -> Agent[None, str]:
    agent = Agent(output_type=str, instructions='You answer questions in the kitchen.')

    @agent.tool_plain
    def convert_units(amount: float, from_unit: Unit, to_unit: Unit) -> dict[str, Any]:
        """Convert a kitchen measure from one unit to another.

        Args:
            amount: How much, in `from_unit`.
            from_unit: The unit it is given in.
            to_unit: The unit to convert into.
        """
        return {'amount': round(amount * 236.6, 1), 'unit': to_unit}

    @agent.tool_plain
    def scale_quantity(amount: float, factor: float) -> float:
        """Multiply an ingredient's quantity by a factor, for more or fewer servings.

        Args:
            amount: The quantity in the recipe.
            factor: How many times the recipe is made.
        """
        return amount * factor

    return agent


# --- HR leave ------------------------------------------------------------------------------------------------------


def leave() -> Agent[None, str]:
    agent = Agent(
        output_type=str,
        instructions='You are the HR assistant. Use get_leave_balance and request_leave for days off.',
    )

    @agent.tool_plain
    def get_leave_balance(employee_id: str) -> dict[str, Any]:
        """How many days of paid leave an employee has left this year.

        Args:
            employee_id: The employee's number, e.g. 'E-42'.
        """
        return {'employee_id': employee_id, 'days_left': 6}

    @agent.tool_plain
    def request_leave(employee_id: str, start: str, end: str) -> dict[str, Any]:
        """File a leave request for the employee's manager to approve.

        Args:
            employee_id: The employee's number.
            start: The first day off, YYYY-MM-DD.
            end: The last day off, YYYY-MM-DD.
        """
        return {'request_id': 'LR-77', 'status': 'pending'}

    return agent


# --- household budget: arithmetic over the user's own numbers ------------------------------------------------------


def budget() -> Agent[None, str]:
    agent = Agent(output_type=str, instructions='You keep track of a household budget.')

    @agent.tool_plain
    def sum_amounts(first: float, second: float) -> float:
        """Add two amounts of money exactly: first plus second.

        Args:
            first: An amount.
            second: Another amount.
        """
        return round(first + second, 2)

    @agent.tool_plain
    def record_expense(amount: float, category: str) -> dict[str, Any]:
        """Save an expense in the budget.

        Args:
            amount: What was spent.
            category: What it was for.
        """
        return {'saved': True}

    return agent


AGENTS: dict[str, Callable[[], Agent[None, str]]] = {
    'bank': bank,
    'card desk': card_desk,
    'travel': travel,
    'library': library,
    'orders': orders,
    'calendar': calendar,
    'helpdesk': helpdesk,
    'kitchen': kitchen,
    'leave': leave,
    'budget': budget,
}

CASES = [
    # A question is answered by the look-up it needs, never with the action the instructions also mention.
    Case(
        name='bank-balance-question',
        build=bank,
        prompt='What is my balance? My account is AC-1001.',
        steps=[[('get_balance', {'account_id': 'AC-1001'})]],
    ),
    Case(
        name='bank-unknown-charge',
        build=bank,
        prompt='There is a payment on my account AC-1001 that I do not recognise. What is it?',
        steps=[[('list_transactions', {'account_id': 'AC-1001'})]],
    ),
    Case(
        name='bank-is-it-frozen',
        build=bank,
        prompt='Is my card C-4421 frozen?',
        steps=[],
    ),
    # A verbless fragment after a question (an identifier, an amount, an aside in brackets) is context: the prompt
    # stays a question, and no tool that changes state is called.
    Case(
        name='fragment-account-in-brackets',
        build=card_desk,
        prompt='What is my balance? (account AC-1001)',
        steps=[[('get_balance', {'account_id': 'AC-1001'})]],
    ),
    Case(
        name='fragment-amount-and-account',
        build=card_desk,
        prompt='Is this charge mine? 13.99 at NETFLIX, account AC-1001.',
        steps=[[('list_transactions', {'account_id': 'AC-1001'})]],
    ),
    Case(
        name='fragment-card-only',
        build=card_desk,
        prompt='Is my card ok? Card C-4421.',
        steps=[],
    ),
    Case(
        name='fragment-account-sentence',
        build=bank,
        prompt='What is my balance? Account AC-1001.',
        steps=[[('get_balance', {'account_id': 'AC-1001'})]],
    ),
    Case(
        name='fragment-labelled-card',
        build=bank,
        prompt='Is my card frozen? Card: C-4421.',
        steps=[],
    ),
    Case(
        name='fragment-account-and-period',
        build=bank,
        prompt="Any payments I don't know? Account AC-1001, last 7 days.",
        steps=[[('list_transactions', {'account_id': 'AC-1001', 'days': 7})]],
    ),
    Case(
        name='fragment-with-no-value',
        build=card_desk,
        prompt='Is my card ok? Card lost yesterday.',
        steps=[],
    ),
    Case(
        name='fragment-customer-after-a-question',
        build=orders,
        prompt='What is the status of my latest order? Customer CU-7.',
        steps=[[('list_orders', {'customer_id': 'CU-7'})], [('get_order_status', {'order_id': 'OR-5512'})]],
    ),
    # A sentence that starts with a verb is an order, with or without a question or a fragment around it.
    Case(
        name='order-verb-first',
        build=card_desk,
        prompt='Freeze card C-4421.',
        steps=[[('freeze_card', {'card_id': 'C-4421'})]],
    ),
    Case(
        name='order-please-with-an-account',
        build=card_desk,
        prompt='Please freeze my card, account AC-1001.',
        steps=[[('list_transactions', {'account_id': 'AC-1001'})], [('freeze_card', {'card_id': 'C-4421'})]],
    ),
    Case(
        name='order-after-a-question',
        build=card_desk,
        prompt='Is my card ok? Freeze card C-4421.',
        steps=[[('freeze_card', {'card_id': 'C-4421'})]],
    ),
    Case(
        name='order-then-a-fragment',
        build=orders,
        prompt='Cancel my latest order. Customer CU-7.',
        steps=[[('list_orders', {'customer_id': 'CU-7'})], [('cancel_order', {'order_id': 'OR-5512'})]],
    ),
    # An action asked for, whose argument only a look-up provides: the look-up first, the action in a later response.
    Case(
        name='bank-freeze-the-card-used',
        build=bank,
        prompt='Someone stole my card. Please freeze the card used for the last payment on account AC-1001.',
        steps=[[('list_transactions', {'account_id': 'AC-1001'})], [('freeze_card', {'card_id': 'C-4421'})]],
    ),
    Case(
        name='bank-freeze-a-named-card',
        build=bank,
        prompt='Please freeze my card C-4421 now.',
        steps=[[('freeze_card', {'card_id': 'C-4421'})]],
    ),
    # A request-form question asks for the action; a negated action is never done; "tell me" wants to know.
    Case(
        name='bank-can-you-freeze',
        build=bank,
        prompt='Can you freeze my card C-4421?',
        steps=[[('freeze_card', {'card_id': 'C-4421'})]],
    ),
    Case(
        name='bank-do-not-freeze',
        build=bank,
        prompt="Don't freeze my card, just tell me the last payment on account AC-1001.",
        steps=[[('list_transactions', {'account_id': 'AC-1001'})]],
    ),
    Case(
        name='bank-please-tell-me',
        build=bank,
        prompt='Please tell me my balance, account AC-1001.',
        steps=[[('get_balance', {'account_id': 'AC-1001'})]],
    ),
    Case(
        name='travel-is-there-a-flight',
        build=travel,
        prompt='Is there a flight from Oslo to Rome on 2026-12-20?',
        steps=[[('search_flights', {'origin': 'Oslo', 'destination': 'Rome', 'date': '2026-12-20'})]],
    ),
    Case(
        name='travel-book-the-flight-found',
        build=travel,
        prompt='Book the cheapest flight from Oslo to Rome on 2026-12-20 for passenger "Ann Lee".',
        steps=[
            [('search_flights', {'origin': 'Oslo', 'destination': 'Rome', 'date': '2026-12-20'})],
            [('book_flight', {'flight_id': 'FL-204', 'passenger': 'Ann Lee'})],
        ],
    ),
    Case(
        name='library-is-it-available',
        build=library,
        prompt='Is the book "Dune" on the shelf? My card is M-12.',
        steps=[[('search_catalog', {'title': 'Dune'})], [('check_availability', {'book_id': 'B-301'})]],
    ),
    Case(
        name='library-reserve-it',
        build=library,
        prompt='Please reserve the book "Dune" for me, member M-12.',
        steps=[
            [('search_catalog', {'title': 'Dune'})],
            [('reserve_book', {'book_id': 'B-301', 'member_id': 'M-12'})],
        ],
    ),
    Case(
        name='orders-status-of-the-latest',
        build=orders,
        prompt='What is the status of my latest order? I am customer CU-7.',
        steps=[[('list_orders', {'customer_id': 'CU-7'})], [('get_order_status', {'order_id': 'OR-5512'})]],
    ),
    Case(
        name='orders-cancel-the-latest',
        build=orders,
        prompt='Cancel my latest order, please. I am customer CU-7.',
        steps=[[('list_orders', {'customer_id': 'CU-7'})], [('cancel_order', {'order_id': 'OR-5512'})]],
    ),
    Case(
        name='calendar-what-is-on',
        build=calendar,
        prompt='What do I have on 2026-12-09?',
        steps=[[('list_events', {'date': '2026-12-09'})]],
    ),
    Case(
        name='helpdesk-status-question',
        build=helpdesk,
        prompt='What is the status of ticket T-311?',
        steps=[[('get_ticket', {'ticket_id': 'T-311'})]],
    ),
    Case(
        name='helpdesk-assign-the-vpn-ticket',
        build=helpdesk,
        prompt='Assign the ticket about "VPN" to engineer "Sam".',
        steps=[[('search_tickets', {'query': 'VPN'})], [('assign_ticket', {'ticket_id': 'T-311', 'engineer': 'Sam'})]],
    ),
    # A task that needs a tool's result calls it, even when the prompt shares no word with the tool.
    Case(
        name='kitchen-cups-to-ml',
        build=kitchen,
        prompt='How many ml is 2 cup?',
        steps=[[('convert_units', {'amount': 2, 'from_unit': 'cup', 'to_unit': 'ml'})]],
    ),
    Case(
        name='leave-days-left',
        build=leave,
        prompt='How many days off do I have left? I am E-42.',
        steps=[[('get_leave_balance', {'employee_id': 'E-42'})]],
    ),
    Case(
        name='leave-take-days-off',
        build=leave,
        prompt='I am employee E-42. Please request leave for me from 2026-12-21 to 2026-12-24.',
        steps=[[('request_leave', {'employee_id': 'E-42', 'start': '2026-12-21', 'end': '2026-12-24'})]],
    ),
    Case(
        name='budget-total-of-my-numbers',
        build=budget,
        prompt='I spent 12.5 on lunch and 7.25 on coffee. How much is that altogether?',
        steps=[[('sum_amounts', {'first': 12.5, 'second': 7.25})]],
    ),
]


def _steps(messages: list[Any]) -> list[list[tuple[str, dict[str, Any]]]]:
    return [
        calls
        for m in messages
        if isinstance(m, ModelResponse)
        and (calls := [(p.tool_name, p.args_as_dict()) for p in m.parts if isinstance(p, ToolCallPart)])
        and not any(name.startswith('final_result') for name, _ in calls)
    ]


@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_sim_follows_the_intent_of_the_request(case: Case) -> None:
    result = asyncio.run(case.build().run(case.prompt, model=SimulatedModel(temperature=0)))
    got = _steps(result.all_messages())
    why = '\n'.join(explain(result.all_messages()))
    assert [sorted(n for n, _ in step) for step in got] == [sorted(n for n, _ in step) for step in case.steps], why
    for got_step, wanted_step in zip(got, case.steps, strict=True):
        for (name, args), (_, wanted) in zip(sorted(got_step), sorted(wanted_step), strict=True):
            assert {k: args.get(k) for k in wanted} == wanted, (name, args, why)


@pytest.mark.parametrize(
    ('prompt', 'question'),
    [
        ('What is my balance? (account AC-1001)', True),
        ('Is this charge mine? 13.99 at a shop, account AC-1001.', True),
        ('Is my card ok? Card C-4421.', True),
        ('Where is my parcel? Tracking [ZX-77].', True),
        ('How much is left? "Holiday fund", EUR 300.', True),
        ('Is it done? Ticket #4521.', True),
        ('Is my card ok? Cheers.', True),
        ('Is my card ok? Card lost yesterday.', True),
        ('Is my card ok? Best regards, Ana', True),
        ('Is my card ok? Freeze card C-4421.', False),
        ('Is my card ok? Please freeze my card, account AC-1001.', False),
        ('Is my card ok? Then check card C-4421.', False),
        ('What is wrong? Investigate node N-3.', False),
        ('Why is it slow? Reindex the table.', False),
        ('Is it open? Escalate it.', False),
    ],
)
def test_a_sentence_is_an_order_only_when_it_starts_with_a_verb(prompt: str, question: bool) -> None:
    assert read_prompt(prompt).question is question


def test_no_agent_is_named_in_sims_code() -> None:
    """The rules are generic: no tool name of the agents above appears anywhere in the simulated model's source."""
    package = Path(sim_module.__file__).parent
    source = '\n'.join(p.read_text() for p in [package / 'sim.py', *sorted((package / '_sim').glob('*.py'))])
    names = {t for build in AGENTS.values() for toolset in build().toolsets for t in getattr(toolset, 'tools', {})}
    assert len(names) == 23
    found = sorted(n for n in names if re.search(rf'\b{re.escape(n)}\b', source))
    assert found == []


def test_explain_says_which_rule_made_each_call_and_which_tools_it_held_back() -> None:
    result = asyncio.run(bank().run('What is my balance? My account is AC-1001.', model=SimulatedModel(temperature=0)))
    assert explain(result.all_messages()) == [
        'response 1: get_balance({"account_id":"AC-1001"}) <- its words match the task: \'balance\', \'account\'; '
        'arguments: account_id from prompt',
        'response 1: not called: freeze_card: it changes state and the prompt asks a question, not for this action',
        'response 2: not called: freeze_card: it changes state and the prompt asks a question, not for this action',
        "response 2: not called: list_transactions: the question's words it matches are answered by the calls made",
    ]


async def _bank_architecture(inputs: Any, model: Any) -> str:
    return (await bank().run(inputs, model=model)).output


def _records(prompt: str) -> list[RunRecord]:
    install()
    arch = Architecture(name='bank', description='', func=_bank_architecture)
    case = CaseSpec(name='c', inputs=prompt)
    return asyncio.run(run_case(arch, SimulatedModel(temperature=0), case, RunSettings()))


def test_the_run_record_keeps_why_sim_made_each_call_and_divergence_shows_it() -> None:
    (freeze,) = _records('Someone stole my card. Please freeze the card used for the last payment on account AC-1001.')
    assert [(c.name, c.why) for c in freeze.tool_calls] == [
        (
            'list_transactions',
            'look-up first: it gives the card_id that freeze_card needs; arguments: account_id from prompt, '
            'days from default',
        ),
        (
            'freeze_card',
            "its words match the task: 'freeze', 'card', 'payment'; it changes state, asked by the prompt (freez); "
            'arguments: card_id from result of list_transactions',
        ),
    ]
    (balance,) = _records('What is my balance? My account is AC-1001.')
    found = divergence([freeze, replace(balance, index=1)], 'steps')
    assert found is not None
    assert [(b.step, b.why) for b in found.branches] == [
        ('list_transactions', [f'list_transactions: {freeze.tool_calls[0].why}']),
        ('get_balance', [f'get_balance: {balance.tool_calls[0].why}']),
    ]


BANK_SESSION = """
    from typing import Any

    from pydantic_ai import Agent

    import pytest_agentarch
    from pytest_agentarch import architecture


    def bank():
        agent = Agent(output_type=str, instructions='You are the helpdesk of a bank. Use get_balance for balances.')

        @agent.tool_plain
        def get_balance(account_id: str) -> dict[str, Any]:
            '''The current balance of an account.'''
            return {'account_id': account_id, 'balance': 1520.35}

        @agent.tool_plain
        def freeze_card(card_id: str) -> dict[str, Any]:
            '''Freeze a card so that no new payment goes through.'''
            return {'card_id': card_id, 'frozen': True}

        return agent


    @architecture('bank')
    async def bank_desk(inputs, model):
        # Even runs ask a question, odd runs ask for an action: the runs diverge at their first step. Each tool has
        # one word of its own (df 1, weighted x2 in its name), so ties are listed alphabetically: 'card', 'freeze'.
        asks = pytest_agentarch.current_run().index % 2 == 0
        prompt = 'What is my balance? My account is AC-1001.' if asks else 'Please freeze my card C-4421 now.'
        return (await bank().run(prompt, model=model)).output
"""


def test_v_says_what_led_sim_to_each_call_where_runs_diverge(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(BANK_SESSION, cases=ONE_CASE)
    result = pytester.runpytest('--runs', '2', '--agentarch-model', 'sim:temperature=0', '-v', '-n', '0')
    result.stdout.fnmatch_lines(
        [
            'where runs diverge (level steps):',
            '  bank  first: step 1 after (the start): 1x get_balance (run 0), 1x freeze_card (run 1)',
            '    run 0 saw: *',
            "      the model says: get_balance: its words match the task: 'balance', 'account'; "
            'arguments: account_id from prompt',
            '    run 1 saw: *',
            "      the model says: freeze_card: its words match the task: 'card', 'freeze'; it changes state, asked by "
            'the prompt (freez); arguments: card_id from prompt',
        ]
    )
