"""The service the fuzz must not break, checked between traps.

Contract: `Service(word)` watches, through `word(label, name)` (a variable of a program),
the client that asks the server every clock tick (its counts `ok` and `bad` and its
`last_error`) and the outsider, which no fuzzer may reach (its `count` of messages).
`problems()`, called once a step, lists what broke: the outsider received a message, the
client got a wrong answer or an error, or no request was answered for `SERVICE_STEPS`
steps.  `answered()` is the client's count of correct answers.  A new `Service` is made
at each boot, so the steps without an answer count from the boot.
"""

SERVICE_STEPS = 20            # the client must be answered at least once in this many steps


class Service:
    def __init__(self, word):
        self.word = word
        self.served = self.answered()
        self.quiet_steps = 0

    def answered(self):
        return self.word("client", "ok")

    def problems(self):
        problems = []
        if self.word("outsider", "count"):
            problems.append("the outsider, no fuzzer's target, received a message")
        if self.word("client", "bad"):
            problems.append(f"the client got a wrong answer or an error "
                            f"({self.word('client', 'last_error')})")
        served = self.answered()
        self.quiet_steps = 0 if served != self.served else self.quiet_steps + 1
        self.served = served
        if self.quiet_steps >= SERVICE_STEPS:
            problems.append(f"the server answered no request for {SERVICE_STEPS} ticks")
        return problems
