"""Word pools and sentence templates for `rmdlib.synth` (data only, no logic).

Name pools are split into train / validation / test parts by `rmdlib.synth`;
common words are shared by all splits. Templates are space-separated tokens
in which `{SLOT}` is filled by `rmdlib.synth`.
"""

from __future__ import annotations

# ---------------------------------------------------------------- common words
NOUNS = """plan report deal market price budget project contract road bridge school
hospital factory office station airport port law tax rule vote election campaign policy
reform program team player coach match game season title record goal league crowd fan
ticket film book song album show concert museum painting artist writer doctor nurse
teacher student worker farmer driver pilot engineer manager director minister official
leader member partner client customer supplier investor analyst shareholder bond stock
loan debt fund share profit loss revenue sale order export import product service
network phone computer car truck ship plane flight route border river mountain valley
village town region province district street garden farm crop harvest storm flood fire
drought winter summer morning evening week month decade century meeting talk speech
statement letter interview survey study test trial court judge case lawyer witness
police army soldier weapon attack protest strike union wage job pension company
country city agency committee council board panel bill treaty vaccine patient virus
engine battery reactor pipeline mine tower stadium arena""".split()

VERBS = """open:opened close:closed buy:bought sell:sold build:built win:won lose:lost
sign:signed reject:rejected approve:approved announce:announced launch:launched
cancel:canceled delay:delayed raise:raised cut:cut expand:expanded reduce:reduced
hire:hired support:supported oppose:opposed criticize:criticized praise:praised
visit:visited leave:left join:joined lead:led meet:met ask:asked ban:banned
block:blocked accept:accepted offer:offered promise:promised deliver:delivered
produce:produced export:exported test:tested review:reviewed discover:discovered
find:found ship:shipped move:moved replace:replaced repair:repaired design:designed
finance:financed fund:funded manage:managed run:ran own:owned share:shared
record:recorded release:released publish:published write:wrote watch:watched
defend:defended warn:warned sue:sued acquire:acquired target:targeted inspect:inspected
restore:restored question:questioned welcome:welcomed double:doubled halt:halted""".split()

ADJECTIVES = """new old large small major minor strong weak high low early late final local
national foreign public private political economic financial social military former
current recent annual monthly weekly daily key main senior junior young long short quick
slow rapid sudden steady sharp modest huge tiny heavy light hard easy clear difficult
important serious common rare rich poor safe dangerous cheap expensive popular famous
quiet busy free full empty dry wet warm cold hot fresh brief special similar different
possible likely unusual strange surprising disappointing successful controversial
historic modern traditional global regional urban rural digital careful bright dark green
""".split()

ADVERBS = """quickly slowly sharply steadily largely mostly nearly almost already still also
again often rarely recently finally suddenly clearly partly widely strongly heavily later
soon quietly openly briefly fully really very""".split()

SAY = ["said", "told reporters", "added", "announced", "noted", "warned", "claimed",
       "insisted", "confirmed", "explained", "argued", "wrote"]
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = """January February March April May June July August September October
November December""".split()
TITLES = "Dr. Mr. Mrs. Ms. Prof. Gen. Sen. Gov.".split()

# ---------------------------------------------------------------- name parts
FIRST = """James Mary John Patricia Robert Linda Michael Barbara William Elizabeth David
Susan Richard Karen Thomas Nancy Charles Lisa Daniel Sarah Matthew Betty Anthony Sandra
Ashley Donald Emily Steven Donna Paul Michelle Andrew Carol Joshua Amanda Kenneth Melissa
Kevin Deborah Brian Stephanie George Rebecca Timothy Laura Ronald Helen Edward Sharon
Jason Cynthia Jeffrey Kathleen Ryan Amy Jacob Angela Gary Anna Nicholas Brenda Eric
Pamela Jonathan Emma Stephen Nicole Larry Samantha Justin Katherine Scott Christine
Brandon Rachel Benjamin Carolyn Samuel Janet Gregory Maria Frank Heather Alexander Diane
Raymond Julie Patrick Joyce Jack Evelyn Dennis Joan Jerry Olivia Tyler Kelly Aaron
Christina Henry Lauren Adam Judith Douglas Megan Nathan Cheryl Peter Martha Zachary
Andrea Kyle Frances Walter Hannah Harold Jacqueline Carl Ann Arthur Gloria Gerald Jean
Roger Kathryn Keith Alice Jeremy Teresa Terry Sara Lawrence Janice Sean Doris Julia
Albert Grace Joe Judy Ethan Bruce Beverly Denise Ahmed Fatima Hiroshi Yuki Wei Mei Raj
Priya Carlos Lucia Pierre Claire Hans Ingrid Ivan Olga Mohammed Aisha Kenji Sakura Diego
Sofia Luca Giulia Mateo Elena Omar Leila Sven Astrid Pablo Carmen Marco Chiara Jan Eva
Nikolai Tatiana Kwame Amara Chen Lin Arjun Ananya Tomas Petra Lars Freya Rafael Ines
Yusuf Zeynep Oskar Hanna Dmitri Irina Tariq Noura Kofi Abena Hugo Margot Emil Linnea""".split()

LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Taylor Moore Martin Lee Perez Thompson White
Harris Sanchez Clark Ramirez Lewis Robinson Walker Allen Wright Torres Nguyen Flores
Adams Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner
Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Rogers Gutierrez
Ortiz Morgan Cooper Peterson Bailey Reed Howard Ramos Kim Cox Richardson Watson Brooks
Chavez Bennett Gray Mendoza Ruiz Hughes Alvarez Castillo Sanders Patel Myers Ross
Foster Jimenez Powell Jenkins Perry Russell Sullivan Coleman Butler Henderson Barnes
Fisher Vasquez Simmons Romero Patterson Graham Reynolds Griffin Wallace Moreno Cole
Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro
Marshall Owens Harrison Fernandez McDonald Kennedy Wells Vargas Freeman Webb Tucker
Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason
Dixon Munoz Hicks Holmes Palmer Wagner Robertson Boyd Salazar Warren Mills Meyer Schmidt
Garza Daniels Ferguson Nichols Stephens Soto Weaver Gardner Payne Dunn Kelley Spencer
Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott
Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Delgado Berry
Perkins Hoffman Johnston Matthews Pena Richards Willis Carpenter Sandoval Tanaka Suzuki
Sato Yamamoto Wang Zhang Liu Singh Kumar Sharma Muller Schneider Fischer Weber Dubois
Moreau Laurent Rossi Russo Bianchi Ferrari Ivanov Petrov Novak Kowalski Nielsen Larsen
Johansson Lindqvist Okafor Mensah Haddad Nasser Yilmaz Demir Kaya Costa Oliveira Pereira
Brennan Doyle Fitzgerald Gallagher Keller Vogel Brandt Lorenz Horvath Varga Nowak Dvorak
Svensson Berg Haugen Virtanen Korhonen Andersen Jensen Bakker Visser Janssen Peeters
Adeyemi Balogun Osei Boateng Kamau Otieno Farouk Saleh Rahman Hossain Iyer Menon
Nakamura Kobayashi Ito Huang Zhao Park Choi Tan Lim Santiago Navarro Rubio Molina""".split()

CITIES = """London Berlin Madrid Rome Vienna Prague Warsaw Budapest Lisbon Dublin Oslo
Stockholm Helsinki Copenhagen Athens Cairo Lagos Nairobi Accra Dakar Tunis Algiers
Casablanca Johannesburg Durban Kampala Tokyo Osaka Kyoto Seoul Busan Beijing Shanghai
Shenzhen Chengdu Wuhan Mumbai Delhi Chennai Kolkata Bangalore Karachi Lahore Dhaka
Jakarta Manila Hanoi Bangkok Taipei Melbourne Perth Brisbane Adelaide Auckland Toronto
Montreal Vancouver Ottawa Calgary Chicago Boston Seattle Portland Atlanta Miami Detroit
Memphis Nashville Baltimore Pittsburgh Cleveland Cincinnati Milwaukee Minneapolis Omaha
Tucson Albuquerque Sacramento Oakland Honolulu Anchorage Lima Bogota Quito Santiago
Caracas Havana Montevideo Recife Manaus Monterrey Guadalajara Tijuana Puebla Lyon
Marseille Toulouse Bordeaux Lille Nantes Hamburg Munich Cologne Frankfurt Stuttgart
Leipzig Dresden Zurich Geneva Basel Milan Naples Turin Venice Genoa Bologna Seville
Valencia Bilbao Porto Krakow Gdansk Riga Tallinn Vilnius Minsk Kyiv Odessa Istanbul
Ankara Izmir Tehran Baghdad Beirut Amman Riyadh Doha Dubai Muscat Kabul Tashkent Almaty
Glasgow Edinburgh Manchester Liverpool Leeds Bristol Cardiff Belfast Antwerp Rotterdam
Utrecht Bergen Aarhus Gothenburg Malmo Tampere""".split()

COUNTRIES = """France Germany Spain Italy Portugal Poland Austria Hungary Greece Norway Sweden
Finland Denmark Ireland Belgium Egypt Nigeria Kenya Ghana Senegal Morocco Ethiopia Japan
China India Pakistan Bangladesh Indonesia Vietnam Thailand Malaysia Brazil Argentina
Chile Peru Colombia Mexico Canada Australia Russia Ukraine Turkey Iran Iraq Lebanon
Syria Qatar Oman Yemen Nepal Mongolia Cuba Uruguay Bolivia Ecuador Romania Bulgaria
Serbia Croatia Latvia Estonia Lithuania Iceland""".split()

NATIONALITIES = """French German Spanish Italian Portuguese Polish Austrian Hungarian Greek
Norwegian Swedish Finnish Danish Irish Belgian Dutch Egyptian Nigerian Kenyan Ghanaian
Moroccan Ethiopian Japanese Chinese Indian Pakistani Indonesian Vietnamese Thai
Brazilian Argentine Chilean Peruvian Colombian Mexican Canadian Australian Russian
Ukrainian Turkish Iranian Iraqi Lebanese Syrian Cuban Romanian Bulgarian Serbian
Croatian Swiss British American Scottish Welsh Korean""".split()

LETTERS = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # first letters of acronyms (split too)

# Surface forms shared by PER, LOC and ORG in every split: context decides the type.
AMBIGUOUS = """Washington Jordan Lincoln Austin Houston Dallas Phoenix Sydney Florence
Victoria Georgia Chelsea Madison Kent Jackson Orlando Denver Camden Preston Chester
Aurora Regina Troy Hamilton Wellington Nelson Darwin Salvador Charlotte Paris""".split()

# ---------------------------------------------------------------- name patterns
ORG_SUFFIXES = """Group Holdings Partners Motors Airlines Energy Foods Systems Media Labs
Capital Pharma Telecom Logistics Insurance Textiles Mining Steel Bank Trust""".split()
ORG_LEGAL = ["Inc.", "Corp.", "Ltd.", "Co."]
ORG_OF = ["Bank of", "University of", "Port of", "Museum of"]
ORG_NAT = ["Football Federation", "Central Bank", "Red Cross", "Chamber of Commerce",
           "Air Force", "Labour Party", "Rail Company"]
LOC_PREFIX = ["New", "Port", "Lake", "Mount", "Fort", "San", "North", "South", "East"]
LOC_SUFFIX = ["River", "Island", "Bay", "Valley", "Heights", "Springs"]
MISC_CITY = ["Open", "Marathon", "Film Festival", "Games", "Accord", "Summit",
             "Declaration", "Book Fair"]
MISC_NAT = ["Open", "Grand Prix", "Cup", "Championship", "Revolution", "Masters"]

# ---------------------------------------------------------------- templates
# Slots: PER ORG LOC MISC (event) NAT (nationality, MISC) TPER (title + PER, title O)
# USA ("U.S.", LOC) ORGX (ORG ending in Inc./Corp.) and the word slots of rmdlib.synth.
# A template without final punctuation ends in an abbreviation ("a.m.", "U.S.", "Inc.").
TEMPLATES = """\
{PER} {SAY} on {DAY} that {ORG} would {VB} {NUM} new {NS} in {LOC} .
{ORG} {VD} {NUM} {NS} in {LOC} last {MONTH} .
Shares of {ORG} rose {DEC} percent to {MONEY} on {DAY} .
" The {N} is {ADJ} , " {PER} {SAY} .
{PER} {SAY} : " We {VD} the {N} and we will {VB} the {NS} . "
{TPER} , who {VD} the {N} at {ORG} , {SAY} the {NS} were {ADJ} .
The {ADJ} {N} in {LOC} {VD} {NS} , {NS} and {NS} .
{NAT} officials {SAY} the {N} would {VB} {NS} before {DATE} .
{PER} won the {MISC} on {DATE} , beating {PER} of {LOC} .
In {YEAR} , {ORG} {VD} a {ADJ} {N} near {LOC} .
The {N} , which {VD} {NUM} {NS} , was {ADV} {ADJ} .
{ORG} , based in {LOC} , {SAY} its {N} rose to {MONEY} .
According to {ORG} , {BIG} {NS} {VD} in {LOC} during {MONTH} .
{TPER} arrived in {LOC} at {TIME} on {DAY} .
The meeting with {PER} starts at {TIME}
{PER} moved to the {USA}
{PER} bought {NUM} {NS} from {ORGX}
{USA} {NS} {VD} the {N} in {LOC} on {DATE} .
{PER} {SAY} the {N} was {ADJ} ...
The {N} ... well , it {VD} the {NS} in {LOC} .
{NS} such as {NS} , {NS} , etc. were {VD} by {ORG} .
{ORG} {VD} {NS} ( e.g. {NS} and {NS} ) for {LOC} .
Did {PER} {VB} the {N} in {LOC} ?
What a {ADJ} {N} !
{PER} and {PER} {VD} {ORG} in {YEAR} .
{PER} , a {NAT} {N} , {SAY} the {MISC} was {ADJ} .
About {DEC} million people live in {LOC} , {ORG} {SAY} .
The {MISC} will be held in {LOC} from {DATE} .
{ORG} {SAY} {PER} would {VB} the {N} of {ORG} .
Prices fell {DEC} percent , the {ADJ} drop since {YEAR} .
{PER} {VD} the {N} , but {PER} {SAY} it was {ADV} {ADJ} .
No. {NUM} on the list was {PER} of {ORG} .
" {ADV} {ADJ} ! " {SAY} {PER} .
The {NAT} team beat {LOC} {NUM} - {NUM} in the {MISC} .
{PER} , {NUM} , {VD} {NS} at {ORG} for {NUM} years .
Asked about the {N} , {PER} {SAY} : " It is {ADJ} . "
{ORG} {VD} {ORGX} for {MONEY} .
Residents of {LOC} {VD} the {ADJ} {NS} on {DAY} .
{PER} {VD} {NS} in {LOC} and {LOC} .
{ORG} 's {N} , {PER} , {SAY} the {NS} were {ADV} {ADJ} .
The {N} of {LOC} rose {DEC} % in {YEAR} , a {ADJ} {N} .
{TPER} {SAY} {NAT} {NS} had {VD} the {N} ... but not the {NS} .
Inflation in {LOC} reached {DEC} percent , {TPER} {SAY} .
The talks with {ORGX} ended at {TIME} , {ORG} {SAY} .
Why would {ORG} {VB} {NS} in {LOC} ?
{NS} were {VD} in {LOC} , {LOC} and {LOC} , {PER} {SAY} .
"""

HEADLINES = """\
{ORG} to {VB} {NS} in {LOC}
{PER} wins {MISC}
{NAT} {NS} {VD} after {ADJ} {N}
Shares of {ORG} fall {DEC} percent
{LOC} {N} {VD} as {NS} {VB}
"""
