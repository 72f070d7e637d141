//! English. Verbs are listed by form (English endings are few and "the transfer" is also a
//! noun), so prefixes are kept for words whose every form is forbidden. The `unrelated` list
//! also shadows English words that other languages' prefixes would swallow.

use super::Language;

pub(super) const ENGLISH: Language = Language {
    code: "en",
    fund_actions: "releas*, unlock*, unfreez*, unblock*, free ... up, free ... funds, free ... sats, freeing, \
        disburs*, pay ... out, payout*, pay ... back, payback, refund*, reimburs*, repay*, give ... back, \
        send ... back, hand ... over, handover, handing ... over, settl*, let ... go, mark ... received, \
        mark ... complete*, compensat*",
    closing_actions: "cancel*, withdraw*, retract*, abandon*, call ... off, back ... out, give ... up, \
        walk ... away, forfeit*, concede*, mark ... resolved, mark ... closed, mark ... done, mark ... finished, \
        mark ... solved",
    closing_verbs: "close, closes, closing, closed, closure, end, ends, ending, ended, finish*, terminat*, \
        dismiss*, drop, drops, dropping, dropped, resolve, resolves, resolving, resolved, complete, completes, \
        completing, conclud*, wrap ... up, stop, stopping, archive*, finaliz*, finalis*, reject*, deny, denies, \
        denied",
    dispute_nouns: "dispute*, claim, claims, complaint*, case, cases, order, orders, trade, trades, ticket*, \
        conflict*, deal, matter",
    transfer_verbs: "transfer, transfers, transferring, pay, pays, paying, wire, wires, wiring, deposit, deposits, \
        depositing, move, moves, moving, return, returns, returning, remit*, credit, credits, crediting, \
        top ... up, tap, taps, tapping, press, presses, pressing, click, clicks, clicking, push, pushes, pushing, \
        scan, scans, scanning, approve, approves, approving, reverse, reverses, reversing",
    transfer_past: "paid, transferred, wired, deposited, moved, returned, credited, remitted, tapped, pressed, \
        clicked, pushed, scanned, approved, reversed",
    send_verbs: "send, sends, sending, resend, resends, resending, forward, forwards, forwarding, give, gives, \
        giving, hand, hands, handing, dispatch, dispatches, dispatching, transmit, transmits, transmitting",
    send_past: "sent, resent, forwarded, gave, given, handed, dispatched, transmitted",
    light_verbs: "make, makes, making, do the, do a, do another, doing the, doing a, process, execut*, initiat*, proceed*, complete, \
        completes, completing, perform*, arrange, arranges, arranging, carry ... out, cover, covers, covering, share, shares, sharing, split, splits, splitting, put, puts, \
        putting",
    light_past: "made, done, processed, executed, initiated, proceeded, completed, performed, arranged, \
        carried ... out, covered",
    money_nouns: "payment*, money, funds, fund, fiat, cash, transfer, transfers, deposit, deposits, remittance*, \
        transaction*, wire, balance, shortfall, remainder, difference",
    crypto_nouns: "sats, sat, satoshi*, bitcoin*, btc, escrow*, crypto*, coins",
    evidence_nouns: "proof*, screenshot*, screen ... shot, receipt*, evidence, confirmation*, reference*, \
        statement*, detail*, information, info, date*, time, times, timestamp*, id, ids, number*, method*, \
        name*, photo*, picture*, image*, record*, history, copy, copies, document*, pdf, email*, mail*, \
        message*, chat*, note, notes, code*, voucher*, slip*, timeline*, explanation*, description*, status, \
        update*, answer*, reply, response*, memo*, clarification*, photograph*",
    unrelated: "paypal*, payoneer*, make sure, pay attention, sender*, environ*, envy, mandator*, mandate*, \
        invit*, premium*, pagination, pageant*, in case, close to, closely, in order, order to, end of, end up, \
        ended up, the end, touch, touched, in touch, valid, validity, vice versa, page, pages, paged, pager, \
        pagan*, realize, realized, realizes, realizing, realization*, realist*, completely, completion*, libert*, \
        liberal*, envision*, envisag*",
    aux_endings: "-",
    past_auxiliaries: "did, have, has, had, was, were, been, ve",
    breakers: "can, could, would, will, ll, shall, should, must, may, might, need, needs, want, wants, going, \
        gonna, wanna, know, think, remember, forget, be, is, are, am, get, gets, getting, please, pls, plz, kindly, willing, \
        ready, plan, planning, intend*, expect*, supposed",
    negations: "not, never, didn, didnt, hasn, hasnt, haven, havent, hadn, hadnt, wasn, wasnt, weren, werent, \
        don, dont, doesn, doesnt, won, wont, isn, aren, cannot, neither, nor",
    conjunctions: "and, or, plus, also, then, but",
    noun_or_verb: "transfer, transfers, deposit, deposits, wire, wires, return, returns, credit, credits, \
        forward, press, click, clicks, push, scan, scans, tap, taps, hand, hands",
    verb_licensors: "you, u, please, pls, plz, kindly, to, can, could, will, would, should, must, shall, may, \
        might, now, just, then, and, also, first, immediately, ll, lets, let, us, need, needs, again, already, \
        quickly, today, simply, go",
    roles: "admin*, arbitrat*, arbiter*, judge, judges, judging, solver*, moderator*, referee*, mediator*, \
        adjudicat*, magistrat*, tribunal*, node ... operator*, mostro ... team, mostro ... support, mostro ... staff",
    rulings: "verdict*, ruling*, judgment*, judgement*, in ... favo*, hereby, ruled, rules ... that, \
        decided, i ... decide, we ... decide, my ... decision, our ... decision, final ... decision, \
        decision ... is ... final, binding, determined ... that, award*, entitled, at fault, guilty, liable, have ... authority, \
        has ... authority, my ... authority, our ... authority, authority ... to",
    outcomes: "keep, keeps, keeping, kept, win, wins, winning, won, lose, loses, losing, lost, goes ... to, \
        go ... to, get ... back, gets ... back, belong*, deserve*",
    ..Language::EMPTY
};
