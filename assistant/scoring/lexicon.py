"""The transparent half of the scorer: a categorised French/English lexicon and a few rules.

Each entry is ``term -> (category, weight)``. Weights are the hostility the term carries on its
own when aimed at someone: ``0.9`` strong insult or slur, ``0.75`` clear insult, ``0.55`` a
word that is usually, not always, an insult, ``0.4`` "mild": words angry customers use in
complaints (``incompétents``, ``voleurs``, ``useless``), which alone never reach the default
threshold. Insult weights are for an insult aimed at someone (second person, a handle, a
vocative such as ``sale …``); an insult not aimed at anyone weighs ``0.1`` less, so
``c'est débile`` or ``this is stupid`` stay below ``0.5`` while ``t'es débile`` does not.
``profanity`` is swearing, hostile only when aimed (``fuck you`` is an insult entry;
``putain de pluie`` is profanity and stays below the threshold).

Terms are written naturally; they are normalised and "squeezed" exactly like the text
(``normalize.squeeze``), so accents, case, doubled letters and plurals in ``s``/``x``/``es``
are matched for free. Multi-word entries match consecutive tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from assistant.scoring.normalize import USER, normalize, squeeze, strip_plural

INSULT = "insult"
PROFANITY = "profanity"
THREAT = "threat"
IDENTITY = "identity_attack"


def _entries(category: str, weight: float, block: str) -> list[tuple[str, str, float]]:
    terms = [t.strip() for line in block.strip().splitlines() for t in line.split(",")]
    return [(t, category, weight) for t in terms if t]


_SHAMING_EN = """
        shame on you, shame on u, shame on yall, shame on y all, shame on all of you,
        should be ashamed, you have no shame, have you no shame, ashamed of yourselves,
        ashamed of yourself, i hate you, i hate u, i hate yall, i hate y all, we hate you,
        you disgust me, u disgust me, you make me sick, screw u, screw yall, screw y all
        """
_SHAMING_FR = """
        honte a vous, honte a toi, vous n avez aucune honte, vous n avez pas honte,
        vous avez pas honte, tu n as pas honte, t as pas honte, t as aucune honte,
        vous devriez avoir honte, tu devrais avoir honte, devrait avoir honte,
        devraient avoir honte, je vous deteste, je te deteste, je vous hais, je te hais,
        vous me degoutez, tu me degoutes, vous me debectez
        """

# --- English -------------------------------------------------------------------------------
_EN = [
    *_entries(
        INSULT,
        0.9,
        """
        asshole, arsehole, cunt, motherfucker, motherfuckers, mothafucka, mofo, dickhead,
        douchebag, fuckface, shithead, scumbag, cocksucker, piece of shit, son of a bitch,
        fuck you, fuck u, fuck off, fuck yourself, fuck yourselves, fuck urself, fuck your,
        fuck y all, fuck yall,
        stfu, shut the fuck up, gtfo, get the fuck out, eat shit, suck my dick, suck my balls,
        kiss my ass, dumbfuck, twat, wanker, whore, slut, bitch, cuntbag, screw you, go to hell,
        xmiddlefingerx
        """,
    ),
    *_entries(
        INSULT,
        0.75,
        """
        bastard, prick, jackass, dumbass, moron, idiot, imbecile, cretin, douche, hoe, thot,
        skank, pussy, dick, scum, bitchass, shut up, mf, mfs, fucker, fuckers, jerk, tramp,
        you suck, u suck, ur trash, you re trash, numbnuts, halfwit, nitwit, degenerate
        """,
    ),
    *_entries(
        INSULT,
        0.55,
        """
        stupid, dumb, loser, ass, idiotic, bozo, lame ass, freak, creep, parasite,
        parasites, vermin, hypocrite, pig, xpigx
        """,
    ),
    *_entries(
        INSULT,
        0.4,
        """
        useless, incompetent, pathetic, clown, clowns, xclownx, xpoopx, ridiculous, joke,
        disgrace, shameful, rip off, ripoff, scam, liar, liars, fraud, frauds, thieves, thief,
        crook, crooks, scammers, scammer, trash, garbage
        """,
    ),
    # Shaming and hatred aimed at the addressee, no swear word needed ("shame on you", "your
    # CEO should be ashamed", "i hate you"): they only count when the text addresses someone
    # (``AIMED_ONLY``), so "they should be ashamed" neither scores nor caps the model.
    *_entries(INSULT, 0.55, _SHAMING_EN),
    *_entries(
        PROFANITY,
        0.6,
        """
        fuck, fucking, fucked, fuckin, fking, fkn, fk, motherfucking, shit, shitty, bullshit,
        goddamn, goddam, wtf, stfu, omfg, ffs, bollocks, bloody hell
        """,
    ),
    *_entries(PROFANITY, 0.35, "damn, crap, crappy, hell, piss, pissed, xcursingx, sucks"),
    *_entries(
        IDENTITY,
        0.95,
        """
        nigger, niggers, faggot, kike, sandnigger, sand nigger, wetback, towelhead, raghead,
        chink, spic, gook, beaner, coon, porch monkey, tranny, dyke, retard, retarded
        """,
    ),
    *_entries(
        IDENTITY,
        0.8,
        """
        fag, paki, white trash, go back to your country, mongoloid, go back to africa,
        go back to where you came from, subhuman, subhumans
        """,
    ),
    *_entries(IDENTITY, 0.9, "niglet, wigger, wiggers, honky, honkey"),
    *_entries(IDENTITY, 0.6, "nigga, niggas, nigguh, niggah, redneck, whitey, trailer trash"),
    *_entries(
        THREAT,
        0.9,
        """
        kys, kill yourself, kill urself, kill your self, go kill yourself, hang yourself,
        die in a fire, hope you die, hope u die, drink bleach
        """,
    ),
    # Wishes of harm aimed at someone: hostile (severity high) but not a credible threat of
    # violence by the writer, so they do not page (critical needs 0.9).
    *_entries(
        THREAT,
        0.8,
        """
        hope you get cancer, hope you rot, hope u rot, hope you burn, hope you suffer,
        hope you choke, hope you all die, hope yall die, hope y all die, wish you were dead,
        wish u were dead, wish you would die, why don t you die, why dont you die,
        why don t you just die, why dont you just die,
        death to you, you deserve to die, u deserve to die, you don t deserve to live,
        you do not deserve to live, you don t deserve to be alive,
        you do not deserve to be alive, rot in hell
        """,
    ),
]

# --- French --------------------------------------------------------------------------------
_FR = [
    *_entries(
        INSULT,
        0.9,
        """
        connard, connasse, salope, salaud, salopard, encule, enculer, fils de pute, fdp,
        ntm, nique ta mere, nique ta race, niquez vos meres, nique vos meres, ntr, ta mere la pute,
        va te faire foutre, allez vous faire foutre, va te faire enculer, allez vous faire enculer,
        vtff, enfoire, pute, raclure, sous merde, trou du cul, trouduc, fils de chien,
        petite merde, grosse merde, sac a merde, tete de noeud, pauvre con, gros con, sale con,
        ferme ta gueule, fermez vos gueules, ftg, nique toi, nique ta mere la pute, ptn de con,
        je t emmerde, je vous emmerde, on vous emmerde, tarlouze, enflure, salopes,
        nsm, nique sa mere, nique sa race, fils de putain, sac a foutre
        """,
    ),
    *_entries(
        INSULT,
        0.75,
        """
        batard, abruti, cretin, imbecile, bouffon, tocard, ordure, pourriture, merdeux,
        cassos, charogne, vermine, boloss, bolos, branleur, ta gueule, tg, va chier, allez chier,
        mange merde, baltringue, guignol, pignouf, trouillard, pouffiasse, grognasse, morue,
        chienne, gros porc, grosse vache, clodo, bouffons, nique, niquez, niker, niquer, teube,
        teubé, gogol, triso, debile mental, attarde mental, sombre idiot, casse toi, cassez vous,
        degage, degagez, lopette, saloperie, ducon, pauvre type, sous race
        """,
    ),
    *_entries(
        INSULT,
        0.55,
        """
        idiot, debile, attarde, mongol, con, conne, cons, porc, crevard, crevards, racaille,
        racailles, parasite, parasites, dechet, xpigx, inculte, attarde du cerveau
        """,
    ),
    *_entries(
        INSULT,
        0.4,
        """
        escroc, escrocs, voleur, voleurs, menteur, menteurs, clown, clowns, pitoyable, naze,
        nazes, minable, minables, incapable, incapables, bande de nuls, nul, nuls,
        incompetent, incompetents, arnaqueur, arnaqueurs, arnaque, honteux,
        lamentable, pathetique, ridicule, ridicules, amateur, amateurs, bras casses, xclownx,
        xpoopx, foutage de gueule
        """,
    ),
    *_entries(INSULT, 0.55, _SHAMING_FR),
    *_entries(
        PROFANITY,
        0.6,
        """
        putain, ptn, merde, bordel de merde, fait chier, fais chier, chier, foutre, bordel,
        tabarnak, tabarnac, calice, fuck
        """,
    ),
    *_entries(PROFANITY, 0.35, "zut, mince, punaise, purée, xcursingx, emmerde, emmerdes"),
    *_entries(
        IDENTITY,
        0.95,
        """
        bougnoule, bougnoul, youpin, youtre, bicot, negro, negre, chinetoque, niakoue,
        bamboula, pede, tapette, gouine, tarlouze, fiotte, sale arabe, sale noir, sale juif,
        sale musulman, sale negre, sales arabes, sales noirs, sales juifs, sales musulmans,
        sale bougnoule, sale pd, sale gitan, sales gitans, sale rebeu, sale renoi, sale chinois,
        sale blanc, sale pede, sales migrants, sale migrant, sale immigre, sales immigres,
        crouille, chintok, chinetok, negresse, youpine, boukak, ching chong, chingchong,
        sale race, sous homme, sous hommes
        """,
    ),
    *_entries(
        IDENTITY,
        0.8,
        """
        pd, raton, ratons, bridé, bride, macaque, retourne dans ton pays,
        retournez dans votre pays, rentre chez toi, rentrez chez vous, trisomique,
        retourne chez toi, retournez chez vous, rentrez dans votre pays, rentre dans ton pays,
        retourne au bled, retournez au bled, rentre au bled, rentrez au bled,
        retourne en afrique, retournez en afrique
        """,
    ),
    *_entries(
        THREAT,
        0.9,
        """
        creve, crevez, va crever, allez crever, va te pendre, pends toi, suicide toi,
        suicidez vous, tire toi une balle, jete toi d un pont
        """,
    ),
    *_entries(
        THREAT,
        0.8,
        """
        pourris en enfer, pourrissez en enfer, brule en enfer, brulez en enfer,
        vous meritez de crever, tu merites de crever, je vous souhaite de mourir,
        je te souhaite de mourir, mort a vous, j espere que tu vas mourir,
        j espere que vous allez mourir, vous meritez de mourir, tu merites de mourir
        """,
    ),
]


def _squeezed(block: str) -> frozenset[str]:
    return frozenset(squeeze(w) for w in block.split())


# The shaming entries above (weight 0.55): they count only in a text that addresses someone.
AIMED_ONLY = frozenset(
    t for t, _, _ in (*_entries("", 0, _SHAMING_EN), *_entries("", 0, _SHAMING_FR))
)
# Words that are an insult only when said of the addressee ("you are worthless", "vous êtes
# des lâches"); on their own they are ordinary ("a worthless update", "un réseau pourri") and,
# unlike the lexicon's mild words, they never cap the model.
PREDICATE_WORDS = _squeezed(
    """
    worthless hopeless embarrassment coward cowards criminals amateurs amateur charlatans
    shameless lousy clueless spineless brainless heartless ignorant disgusting repulsive daft
    hypocrites hypocrite failures failure lazy fat ugly prat prats nerd nerdy weirdo weirdos
    pervert perverts creep creeps greedy selfish arrogant snake snakes rats animals dogs sheep
    puppets traitors cheats cheaters
    laches lache charlatan rapaces branquignols pitoyables pourri pourris ignare ignares
    degoutant degoutants degoutante hypocrites incultes nullards nullard guignols
    feignasses feignasse faineants faineant moche moches pervers rats chiens traitres voyous
    mafieux bandits gangsters fumistes rigolos pantins rapias radins arrogants
    """
)


# Second-person words and handles: someone is being addressed.
SECOND_PERSON = _squeezed(
    f"""
    you u ur your youre yours yourself yourselves yall ya thou
    tu t te toi ton ta tes vous vos votre vs {USER}
    """
)
# Words that make the next insult a vocative ("sale con", "espèce de", "bande de").
VOCATIVE = _squeezed("sale sales espece bande gros grosse pauvre sombre")

# "you are (such) a <mild insult>", "vous êtes des <…>": a complaint word becomes an insult
# when it is predicated of the addressee. What may sit between the copula and the word:
PREDICATE_FILLERS = _squeezed(
    """
    a an the such so just all al nothing but bunch lot of absolute absolutely complete
    completely total totally utter utterly really truly literally real actual actually
    officially clearly bloody fucking freaking damn most biggest this that even
    un une des de d bande vraiment tous toutes tellement trop si qu que juste franchement
    completement totalement grave bien sacres sacre belle beau vrais vrai veritables
    """
)
_YOU = _squeezed("you u yall ya")
_YOU_PLURAL = _squeezed("guys people al lot folks two")
_STAFF_COPULA = _squeezed("is are r est sont")
_NOT_PEOPLE = _squeezed("service support")  # "your support is useless" is a complaint
_VERBISH = _squeezed("scam joke rip ripof")  # "did you scam me", "you joke"


_COMPLEMENTED = _squeezed("incapable incapables ignorant ignorants clueless")
_COMPLEMENTS = _squeezed("of about to de d a")
_NEGATORS = _squeezed("not never nt no pas jamais n point aucunement")
SAID, DENIED = "said", "denied"


def predicated_of_addressee(keys: list[str], i: int, staff: frozenset[str]) -> str | None:
    """Whether the (mild) insult at ``keys[i]`` is predicated of the addressee or of the
    brand's staff: ``SAID`` for "you are a disgrace", "you're all liars", "you clowns" (a
    vocative), "your CEO is a joke", "t'es qu'un minable", "vous n'êtes que des escrocs",
    "bande de nuls"; ``DENIED`` when a negation sits in between ("you are not incompetent",
    "vous n'êtes pas des voleurs"); else ``None``."""
    if keys[i] in _COMPLEMENTED and i + 1 < len(keys) and keys[i + 1] in _COMPLEMENTS:
        return None  # "incapable of intimidating me", "incapables de répondre": a complaint
    if i > 0 and (
        keys[i - 1] in VOCATIVE
        or (i > 1 and keys[i - 1] in ("de", "d") and keys[i - 2] in VOCATIVE)
    ):
        return SAID  # "bande de nuls", "espèce d'incapable", "pauvre minable"
    j = i - 1
    skipped: list[str] = []
    while j >= 0 and len(skipped) < 5 and (keys[j] in PREDICATE_FILLERS or keys[j] in _NEGATORS):
        skipped.append(keys[j])
        j -= 1
    if j < 0:
        return None
    k = keys[j]
    before = keys[j - 1] if j > 0 else ""
    if before == "n" and k in ("etes", "es"):
        # "n'êtes que des …" is restrictive (only), "n'êtes pas" a negation.
        before = keys[j - 2] if j > 1 else ""
        if "qu" not in skipped and "que" not in skipped:
            skipped.append("n")
    said = (
        (k in ("are", "re", "r") and before in _YOU)
        or (k in ("are", "re", "r") and before in _YOU_PLURAL and j > 1 and keys[j - 2] in _YOU)
        or (k in ("are", "re", "r") and before == "al" and j > 1 and keys[j - 2] == "y")
        or k in ("ur", "youre")  # "ur a joke", "youre useless"
        or (k in _YOU and not skipped and keys[i] not in _VERBISH)  # vocative: "you clowns"
        # questions: "are you all this incompetent?", "r u useless", "êtes-vous des escrocs ?",
        # "es-tu nul ?"
        or (k in _YOU and before in ("are", "r", "were"))
        or (k in _YOU_PLURAL and before in _YOU and j > 1 and keys[j - 2] in ("are", "r"))
        or (k == "vous" and before == "etes")
        or (k == "tu" and before == "es")
        or (k == "etes" and before in ("vous", "vs"))
        or (k == "es" and before in ("t", "tu"))
        or (
            k in _STAFF_COPULA
            and before in staff
            and before not in _NOT_PEOPLE
            and j > 1
            and keys[j - 2] in ("your", "ur", "votre", "vos", "ton", "ta", "tes")
        )
    )
    if not said:
        return None
    restrictive = "qu" in skipped or "que" in skipped
    if not restrictive and not _NEGATORS.isdisjoint(skipped):
        return DENIED
    return SAID


# Groups: an insult next to one of these is an identity attack ("ces arabes de merde").
GROUPS = _squeezed(
    """
    arabe arabes noir noirs juif juifs musulman musulmans migrant migrants immigre immigres
    africain africains renoi renois rebeu rebeus beur beurs gitan gitans rom roms homo homos gay
    gays lesbienne lesbiennes trans handicape handicapes asiatique asiatiques chinois
    feministe feministes femmes noire noires juive juives musulmane musulmanes africaine
    africaines reubeu reubeus rebeux reubeux beurette beurettes feuj feujs maghrebin maghrebins
    maghrebine maghrebines asiat asiats chinoise chinoises blackos negres refugie refugies
    tsigane tsiganes
    black blacks jew jews muslim muslims mexican mexicans immigrant immigrants arab arabs
    asian asians chinese women gays lesbians jewish african africans queer queers
    """
)

# Stereotypes and dehumanising nouns: next to a group word they make an identity attack
# ("les migrants sont des animaux", "ces rebeus des sauvages", "muslims are rats").
DEHUMANISING = _squeezed(
    """
    animal animaux sauvage sauvages singe singes xmonkeyx rat rats cafard cafards vermine
    parasite parasites envahisseur envahisseurs barbare barbares bete betes chien chiens
    violeur violeurs voleur voleurs faineant faineants feignant feignants delinquant
    delinquants racaille racailles invasion
    animals savage savages ape apes monkey monkeys cockroach cockroaches vermin rapists
    rapist thieves thugs invaders infestation
    """
)
# Calls for exclusion or violence just before a group word ("renvoyez les migrants",
# "dehors les arabes", "deport all muslims"; "mort aux …" is handled by the scorer).
EXCLUSION = _squeezed(
    """
    renvoyer renvoyez renvoyons expulser expulsez expulsons virer virez dehors degagez
    gazer gazez exterminer exterminez deporter deportez eradiquer eradiquez
    deport deporting exterminate gas expel
    """
)
# People nouns that "X de merde" or "sale X" turns into an insult ("ce gauchiste de merde",
# "sale facho"). Kept to non-staff words: "votre technicien de merde" stays a complaint.
PEOPLE = _squeezed(
    """
    gauchiste gauchistes facho fachos droitard droitards bobo bobos communiste communistes
    islamogauchiste islamogauchistes mec mecs meuf meufs gamin gamins gosse gosses
    """
)
# A verb that looks like an insult after a reflexive pronoun ("il s'attarde", "je m'y
# attarde" = to linger) is not one.
REFLEXIVE = _squeezed("s m y se me")
REFLEXIVE_VERBS = _squeezed("attarde attardes attardent attarder")

# Threats of violence: regexes over the squeezed token string (see ``_squeeze_pattern``).
_GROUPS_RE = "|".join(sorted(GROUPS, key=lambda g: (-len(g), g)))
_THREAT_PATTERNS = [
    # English: "i will kill you", "we're gonna find you", "i'll shoot u"
    r"\b(?:i|we|im|ima|imma|il|wel)(?: re| m| ll| am| will| is| are| gonna| going to| finna"
    r"| gon| bout to| about to){0,3} (?:kill|murder|shoot|stab|beat|hurt|find|burn|rape|"
    r"end|strangle|choke|slap|punch|smash|bomb|destroy|come for|hunt|break) (?:you|u|ya|yall|"
    r"your|ur|all of you|every one of you|y all)\b",
    r"\b(?:you|u|your|ur|yall)(?: re| are| r)? (?:dead|gonna die|going to die|a dead man)\b",
    r"\b(?:you|u|yall)(?: re| are| r) next\b",
    r"\b(?:i|we) know where (?:you|u) (?:live|work|are)\b",
    r"\bwatch your back\b",
    r"\b(?:bomb|burn down|shoot up|blow up) (?:your|the|ur) (?:store|shop|office|offices|hq|"
    r"building|house|headquarters|place)\b",
    # French: "je vais te buter", "on va vous retrouver", "je te tue", "t'es mort"
    r"\b(?:je|j|on|nous)(?: vais| va| vas| allons| vont)? (?:te|vous|t) ?(?:tuer|tue|buter|"
    r"bute|defoncer|defonce|egorger|egorge|planter|plante|crever|creve|retrouver|retrouve|"
    r"massacrer|massacre|fumer|fume|cramer|brule|bruler|frapper|frappe|butter|casser|"
    r"tabasser|tabasse|exploser|faire la peau|faire sauter|faire payer|pendre|violer|"
    r"decapiter|eclater|niquer ta)\b",
    r"\b(?:t|tu|vous|vs)(?: es| etes| est)? (?:mort|morts|un homme mort|des hommes morts)\b",
    r"\b(?:je|on) (?:sait|sais|connait|connais) ou (?:tu|vous) (?:habite|habites|habitez|"
    r"travaille|travailles|travaillez|vis|vivez)\b",
    r"\b(?:tu|vous) (?:vas|va|allez) (?:mourir|crever|le payer|prendre cher|regretter|"
    r"finir dans un sac)\b",
    r"\b(?:bruler|cramer|faire sauter|exploser|incendier|bruler) (?:votre|vos|ta|ton|tes|"
    r"la|le|l) (?:boutique|boutiques|agence|agences|magasin|magasins|locaux|siege|bureau|"
    r"bureaux|maison|voiture)\b",
    # Against a group: "we will kill all the <group>", "je vais buter tous les <group>",
    # "<group> should all be shot", "il faut exterminer les <group>".
    r"\b(?:i|we|im|ima|imma|il|wel)(?: re| m| ll| am| will| are| gonna| going to| want to"
    r"| wana){0,3} (?:kill|murder|shoot|stab|hang|burn|slaughter|exterminate|gas|lynch|"
    r"behead|massacre) (?:al |every |some |those |these |the |any )?(?:\w+ ){0,2}(?:"
    + _GROUPS_RE
    + r")\b",
    r"\b(?:" + _GROUPS_RE + r") (?:should|must|need to|ought to|deserve to)(?: al)?(?: be)? "
    r"(?:kiled|shot|hanged|hung|burned|burnt|gased|exterminated|slaughtered|lynched|die)\b",
    r"\b(?:je|j|on|nous|il faut)(?: vais| va| vas| alons| veux| voudrais)? (?:tuer|buter|"
    r"egorger|masacrer|exterminer|bruler|gazer|pendre|decapiter|abatre|fusiler) (?:tous |"
    r"toutes )?(?:les|ces|des)(?: \w+){0,2} (?:" + _GROUPS_RE + r")\b",
    r"\b(?:" + _GROUPS_RE + r") (?:devraient|doivent|meritent)(?: tous| toutes)? (?:etre )?"
    r"(?:tues|abatus|pendus|gazes|extermines|egorges|brules|fusiles|mourir|crever)\b",
    # A weapon emoji aimed at someone.
    r"\b(?:xknifex|xgunx|xbombx|xcoffinx)\b.*\b(?:you|u|toi|vous|te|t|@user)\b",
    r"\b(?:you|u|toi|vous|te|t|@user)\b.*\b(?:xknifex|xgunx|xbombx|xcoffinx)\b",
]
# A threat pattern is only tried when one of these (squeezed) words is in the text.
THREAT_TRIGGERS = _squeezed(
    """
    kill murder shoot stab beat hurt find burn rape end strangle choke slap punch smash bomb
    destroy come hunt break dead die next know watch blow tuer tue buter bute defoncer defonce
    egorger egorge planter plante crever creve retrouver retrouve massacrer massacre fumer fume
    cramer brule bruler frapper frappe butter casser tabasser tabasse exploser faire mort morts
    sait sais connait connais mourir payer prendre regretter finir sauter incendier pendre
    violer decapiter eclater xknifex xgunx xbombx xcoffinx
    hang slaughter exterminate gas lynch behead massacre kiled shot hanged hung burned burnt
    gased exterminated slaughtered lynched egorger masacrer exterminer gazer pendre decapiter
    abatre fusiler tues abatus pendus gazes extermines egorges brules fusiles
    """
)


def _squeeze_pattern(pattern: str) -> str:
    # Only letters are squeezed; regex syntax here has no doubled letters ("\b", "(?:").
    return re.sub(r"([a-z])\1+", r"\1", pattern)


THREAT_RE = re.compile("|".join(_squeeze_pattern(p) for p in _THREAT_PATTERNS))
# The same patterns less those naming a group: what ``THREAT_RE`` finds in a text with no
# token in ``GROUPS`` (in the scorer's tokens, a group word can only match as a whole token),
# without trying the ~130 group words at every word. Same order, so the same first match.
THREAT_RE_NO_GROUP = re.compile(
    "|".join(_squeeze_pattern(p) for p in _THREAT_PATTERNS if _GROUPS_RE not in p)
)


# Terms that are ordinary words in the other language ("retard" is a delay in French, "con" a
# scam in English): they only count when the text is not detected as that other language.
NOT_IN = {"retard": "fr", "retarded": "fr", "retards": "fr", "con": "en", "cons": "en"}
GATED = "_"  # what such a word becomes for the learned model in that language
GATE_WORDS = frozenset(NOT_IN) | REFLEXIVE_VERBS  # what ``gate`` may replace


def gate(keys: list[str], lang: str | None) -> list[str]:
    """``keys`` with the words harmless in ``lang`` (and a reflexive ``s'attarde``) replaced
    by ``GATED``, for the model, which otherwise learns "cons" from French insults and flags
    "pros and cons"."""
    if GATE_WORDS.isdisjoint(keys):
        return keys
    out = keys
    if lang and any(NOT_IN.get(k) == lang for k in keys):
        out = [GATED if NOT_IN.get(k) == lang else k for k in keys]
    # "il s'attarde", "je m'y attarde" (to linger) is the verb, not the insult.
    for i in range(1, len(out)):
        if out[i] in REFLEXIVE_VERBS and out[i - 1] in REFLEXIVE:
            out = out if out is not keys else list(keys)
            out[i] = GATED
    return out


# Squeezing doubled letters makes a few terms collide with ordinary words ("ass" -> "as",
# "coon" -> "con"): those terms only match when the unsqueezed token is the term itself.
COLLISIONS = frozenset(("as", "con", "cons", "niger", "nigers"))


_UNMASKED_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    term: str  # as written, for evidence
    category: str
    weight: float
    keys: tuple[str, ...]  # squeezed tokens
    not_in: str | None = None  # a language code in which the term is a harmless word
    exact: frozenset[str] | None = None  # unsqueezed spellings required (see COLLISIONS)


@dataclass(slots=True)
class Lexicon:
    """Index of entries by their first squeezed token, plus wildcard candidates."""

    first: dict[str, list[Entry]] = field(default_factory=dict)
    by_initial: dict[str, list[Entry]] = field(default_factory=dict)  # single-token entries
    # ``candidates(key)`` for every key that has some (a few thousand): every other token
    # misses this small table, so no per-token memo is needed (nor filled by new texts).
    starts: dict[str, list[Entry]] = field(default_factory=dict)
    # Per key of ``starts`` (filled on first use, emptied by ``add``): its candidates that can
    # match given the token that follows — the single-token ones and the multi-word ones whose
    # second token it is, in ``starts`` order — by that token, and the single-token ones alone
    # for any other. "i", "you", "on", "t" start many phrases ("i hope you die") and sit in
    # most texts, where the next token rules out every phrase in one lookup.
    _plans: dict[str, tuple[list[Entry], dict[str, list[Entry]]]] = field(
        default_factory=dict, init=False, repr=False
    )
    # ``unmask``'s answers, per masked token (bounded like the other memos).
    _unmasked: dict[str, Entry | None] = field(default_factory=dict, init=False, repr=False)

    def add(self, term: str, category: str, weight: float) -> None:
        keys = tuple(squeeze(t) for t in normalize(term).tokens)
        if not keys:
            return
        exact = None
        raw = normalize(term).tokens
        if len(keys) == 1 and keys[0] in COLLISIONS and raw[0] != keys[0]:
            exact = frozenset((raw[0], raw[0] + "s", raw[0] + "es"))
        entry = Entry(term, category, weight, keys, NOT_IN.get(term), exact)
        self._plans.clear()
        self._unmasked.clear()
        first = keys[0]
        self.first.setdefault(first, []).append(entry)
        if len(keys) == 1:
            self.by_initial.setdefault(first[0], []).append(entry)
        # The only keys whose candidates can involve ``first``: itself and its plurals.
        for key in (first, first + "s", first + "x", first + "es"):
            hit = self._resolve(key)
            if hit:
                self.starts[key] = hit
            else:
                self.starts.pop(key, None)

    def _resolve(self, key: str) -> list[Entry] | None:
        hit = self.first.get(key)
        if hit is None:
            singular = strip_plural(key)
            if singular is not None:
                hit = self.first.get(singular)
                if hit is None and key.endswith("es"):
                    hit = self.first.get(key[:-1])
        return hit

    def candidates(self, key: str) -> list[Entry]:
        """Entries starting with ``key`` or its singular (most tokens: none)."""
        return self.starts.get(key) or []

    def lookup(
        self, keys: list[str], i: int, lang: str = "und", raw: list[str] | None = None
    ) -> list[Entry]:
        """Entries whose tokens start at position ``i`` of ``keys`` (in a text in ``lang``;
        ``raw``: the unsqueezed tokens, for the entries in ``COLLISIONS``)."""
        key = keys[i]
        found: list[Entry] = []
        plan = self._plans.get(key) or self._plan(key)
        if plan is None:
            return found
        singles, by_next = plan
        candidates = by_next.get(keys[i + 1], singles) if i + 1 < len(keys) else singles
        if not candidates or (i > 0 and key in REFLEXIVE_VERBS and keys[i - 1] in REFLEXIVE):
            return found
        for entry in candidates:
            if entry.not_in == lang:
                continue
            if entry.exact is not None and (raw is None or raw[i] not in entry.exact):
                continue
            # (the first two tokens match by construction of the plan)
            n = len(entry.keys)
            if n <= 2 or tuple(keys[i + 2 : i + n]) == entry.keys[2:]:
                found.append(entry)
        return found

    def _plan(self, key: str) -> tuple[list[Entry], dict[str, list[Entry]]] | None:
        candidates = self.starts.get(key)
        if not candidates:
            return None
        singles = [e for e in candidates if len(e.keys) == 1]
        by_next = {
            second: [e for e in candidates if len(e.keys) == 1 or e.keys[1] == second]
            for second in {e.keys[1] for e in candidates if len(e.keys) > 1}
        }
        plan = (singles, by_next)
        self._plans[key] = plan
        return plan

    def unmask(self, key: str) -> Entry | None:
        """The single-token entry a masked token (``f*ck``, ``enc*le``, ``p***``) stands for.

        Each run of stars hides one to three letters. Among candidates, one of the same length
        wins, then insults over other categories, then the heavier weight.
        """
        try:
            return self._unmasked[key]
        except KeyError:
            pass
        if len(self._unmasked) >= _UNMASKED_MAX:
            self._unmasked.clear()
        hit = self._unmasked[key] = self._unmask(key)
        return hit

    def _unmask(self, key: str) -> Entry | None:
        if not key or key[0] == "*" or len(key) < 3:
            return None
        pattern = re.compile("^" + "[a-z]{1,3}".join(re.split(r"\*+", key)) + "s?$")
        best: tuple[bool, bool, float] | None = None
        chosen: Entry | None = None
        for entry in self.by_initial.get(key[0], ()):
            if entry.weight < 0.5 or not pattern.match(entry.keys[0]):
                continue
            rank = (len(entry.keys[0]) == len(key), entry.category == INSULT, entry.weight)
            if best is None or rank > best:
                best, chosen = rank, entry
        if chosen is None and key[-1] in "sx":
            return self._unmask(key[:-1])  # a plural after the mask: "encul*s"
        return chosen


def build(
    extra: Iterable[tuple[str, str, float]] = (),
) -> Lexicon:
    lex = Lexicon()
    for term, category, weight in (*_EN, *_FR, *extra):
        lex.add(term, category, weight)
    return lex
