//! The phrase rules: what each signal kind looks for, in the folded text
//! (lower case, no accents, punctuation one space), and what only means
//! something with its punctuation (`new instructions:`, chat-template
//! markers), looked for in the raw text.
//!
//! `L(..)` rules are Latin-script and bounded by ASCII word boundaries;
//! `R(..)` rules (Cyrillic) by spaces; `C(..)` rules (Chinese, Japanese)
//! by nothing, as those languages put no space between words.

use super::SignalKind::{self, *};

/// How a rule's pattern is bounded.
#[derive(Clone, Copy, Debug)]
pub(super) enum Bound {
    /// ASCII word boundaries either side.
    Latin,
    /// A space either side (the folded text starts and ends with a space).
    Spaced,
    /// None.
    Unbounded,
}

/// One rule: its kind, weight, how it is bounded, its pattern.
pub(super) type Rule = (SignalKind, f32, Bound, &'static str);

use Bound::{Latin as L, Spaced as R, Unbounded as C};

/// Up to three words, in Latin-script languages.
macro_rules! gap {
    () => {
        "(?:[a-z]+ ){0,3}"
    };
}

/// The rules over the folded text.
pub(super) const RULES: &[Rule] = &[
    // ---------------------------------------------------------- English
    (InstructionOverride, 0.9, L, concat!(
        "(?:ignore|disregard|forget|skip|bypass|override|neglect|discard|drop|abandon|ditch|dismiss) ", gap!(),
        "(?:previous|prior|above|earlier|preceding|foregoing|former|initial|original|old|existing|all) ", gap!(),
        "(?:instructions?|rules|directions|directives?|prompts?|guidelines|commands|orders|context|constraints|guardrails|programming|restrictions|policies|safeguards|training)")),
    (InstructionOverride, 0.85, L, concat!(
        "(?:ignore|disregard|forget|bypass|override|discard|abandon) (?:all |any )?(?:of )?your ", gap!(),
        "(?:instructions|rules|guidelines|programming|directives|restrictions|guardrails|safety guidelines|content polic(?:y|ies)|system prompt|filters)")),
    (InstructionOverride, 0.85, L,
        "(?:ignore|disregard|forget) (?:about )?(?:everything|anything|all(?: that)?|what(?:ever)?) (?:(?:you (?:were|have been|was) )?(?:told|said|instructed|given)|above|before|previously|so far|prior|i (?:said|told you)|that came before)"),
    (InstructionOverride, 0.4, L, "forget everything"),
    (InstructionOverride, 0.7, L, "(?:from now on|starting now|henceforth|for the rest of this (?:conversation|chat)) (?:you (?:will|must|shall|are to|should) )?(?:ignore|disregard|answer (?:all|every|any)|respond without|comply with (?:all|every|any))"),
    (InstructionOverride, 0.6, L, "(?:stop|cease) following (?:your|the|all|any) (?:previous |prior |original )?(?:instructions|rules|guidelines)"),
    (InstructionOverride, 0.75, L, "(?:from now on|starting now|henceforth|you now|now you|going forward) (?:[a-z]+ ){0,4}(?:no|without) (?:any )?(?:restrictions|limits|limitations|filters|rules|guidelines|boundaries)"),
    (InstructionOverride, 0.8, L, "(?:safety|security|content|ethical|moderation) (?:protocols|filters|guidelines|restrictions|checks|guardrails|rules|policies) (?:are |have been |has been |now )?(?:disabled|off|removed|lifted|suspended|deactivated|bypassed|turned off)"),
    (InstructionOverride, 0.65, L, "(?:administrator|admin|developer|system|root|sudo|operator) override"),
    (InstructionOverride, 0.7, L, "(?:your|the) (?:rules|instructions|guidelines|policies|restrictions|directives) (?:have|has) (?:been )?(?:changed|updated|lifted|removed|suspended|revoked|replaced|overridden)"),
    (InstructionOverride, 0.7, L, "(?:ignore|disregard) (?:the|your) user(?: s)?(?: (?:request|question|instructions|message|prompt))?"),
    (InstructionOverride, 0.55, L, "before (?:you )?(?:answer|respond|reply)(?:ing)? (?:to )?(?:the|this) user"),
    (InstructionOverride, 0.7, L, "(?:decode|decrypt|translate|convert|unscramble|reverse|deobfuscate) (?:this|the following|the|it) (?:[a-z0-9]+ ){0,3}(?:and|then) (?:follow|execute|obey|do|run|carry out|comply with|act on|perform)"),
    (InstructionOverride, 0.6, L, "(?:exempt from|not bound by|not covered by|do not apply to|does not apply to|not meant for|no longer apply to) (?:[a-z]+ ){0,4}(?:restrictions|rules|guidelines|safety|polic(?:y|ies))"),
    (InstructionOverride, 0.6, L, "(?:restrictions|rules|guidelines|polic(?:y|ies)|safeguards) (?:[a-z]+ ){0,3}(?:do not|don t|does not|doesn t|no longer) apply"),
    (InstructionOverride, 0.6, L, "(?:answer|respond|reply|responder|rispondere|repondre|antworten|responder) (?:[a-z]+ ){0,2}(?:without|sin|senza|sans|ohne|sem) (?:any |ninguna |alcuna |aucune |jegliche |nenhuma )?(?:restrictions|restricciones|restrizioni|einschrankungen|restricoes|filters|filtros|filtri|filtres|limits|limites|limiti)"),
    (InstructionOverride, 0.5, L, "(?:append|add|include|insert|put|output) (?:[a-z0-9]+ ){0,10}(?:to|at) the (?:end|beginning|start|top|bottom) of (?:your|each|every|the) (?:reply|response|answer|message|output|summary)"),
    (InstructionOverride, 0.45, L, "(?:in|to) (?:every|each|all) (?:future |subsequent )?(?:reply|replies|response|responses|answer|answers|message|messages)"),
    (InstructionOverride, 0.55, L, "(?:save|store|remember|write|add) (?:this|the following|it) (?:[a-z]+ ){0,2}(?:to|in|into) (?:your )?(?:memory|long term memory|persistent memory)"),
    (InstructionOverride, 0.7, L, "(?:ai|llm|assistant|ai agent|agent|model|bot|chatbot|language model)s? (?:reading|processing|parsing|summari[sz]ing|that reads|who reads|that processes|integrating) (?:this|these|the following)"),
    (InstructionOverride, 0.65, L, "(?:attention|note|message|instructions?|important) (?:to|for) (?:the |any |all )?(?:ai|llm|ai assistant|language model|chatbot|ai agent)s?"),
    (InstructionOverride, 0.6, L, "if you are (?:an? )?(?:ai|llm|large language model|language model|assistant|chatbot|ai assistant|ai agent)(?: reading this)?"),
    (InstructionOverride, 0.75, L, "(?:ignore|bypass|disable|turn off|override|skip|circumvent|evade) (?:all |any |the |your )?(?:of )?(?:your |the )?(?:safety|security|content|ethical|moral) ?(?:guidelines|filters?|polic(?:y|ies)|restrictions|protocols|rules|checks|constraints|measures|confirmations|guardrails)"),
    (InstructionOverride, 0.35, L, "(?:without|with no) (?:any )?(?:restrictions|limitations|limits|filters|censorship|rules|guidelines|ethical (?:guidelines|constraints)|safety (?:guidelines|filters))"),
    // Spanish
    (InstructionOverride, 0.9, L, concat!(
        "(?:ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|olviden|omite|omitir|descarta|descartar|desatiende|haz caso omiso (?:a|de)|no hagas caso (?:a|de)) ", gap!(),
        "(?:instrucciones|indicaciones|reglas|directrices|ordenes|normas)(?: (?:anteriores|previas|de arriba|del sistema|originales|iniciales|que te (?:dieron|han dado)))")),
    (InstructionOverride, 0.8, L, "(?:olvida|olvide|olvidate de) todo(?: lo (?:anterior|que te (?:dijeron|han dicho)))?"),
    // French
    (InstructionOverride, 0.9, L, concat!(
        "(?:ignore|ignorez|ignorer|oublie|oubliez|oublier|ne tiens pas compte (?:de|des)|ne tenez pas compte (?:de|des)|fais abstraction (?:de|des)|faites abstraction (?:de|des)) ", gap!(),
        "(?:instructions|consignes|regles|directives|ordres)(?: (?:precedentes|anterieures|ci dessus|initiales|d origine|du systeme))")),
    (InstructionOverride, 0.8, L, "(?:oublie|oubliez) tout(?: ce qui precede| ce qu on t a dit| ce que l on t a dit)?"),
    // German
    (InstructionOverride, 0.9, L, concat!(
        "(?:ignoriere|ignorier|ignorieren|ignoriert|vergiss|vergi\u{df}|vergesst|vergessen|missachte|missachten|uberspringe|verwirf) (?:[a-z]+ ){0,2}",
        "(?:vorherigen|vorherige|bisherigen|bisherige|obigen|obige|vorigen|fruheren|vorangegangenen|ursprunglichen|alle|deine|ihre|samtliche|jegliche) (?:[a-z]+ ){0,2}",
        "(?:anweisungen|anweisung|instruktionen|regeln|befehle|vorgaben|richtlinien|systemanweisungen|systemprompt)")),
    (InstructionOverride, 0.8, L, "(?:vergiss|vergi\u{df}|vergesst|vergessen sie) alles(?: (?:bisherige|vorherige|was (?:man )?dir gesagt))?"),
    // Portuguese
    (InstructionOverride, 0.9, L, concat!(
        "(?:ignore|ignora|ignorar|ignorem|esqueca|esquece|esquecer|desconsidere|desconsidera|descarte|despreze) ", gap!(),
        "(?:instrucoes|instrucao|regras|diretrizes|ordens|orientacoes)(?: (?:anteriores|previas|acima|do sistema|originais|iniciais))")),
    (InstructionOverride, 0.8, L, "(?:esqueca|esquece) tudo(?: (?:o que|que) (?:foi dito|te disseram|disse))?"),
    // Italian
    (InstructionOverride, 0.9, L, concat!(
        "(?:ignora|ignorate|ignori|ignorare|dimentica|dimenticate|dimenticare|trascura|tralascia|scarta|non considerare) ", gap!(),
        "(?:istruzioni|indicazioni|regole|direttive|ordini)(?: (?:precedenti|di prima|sopra|iniziali|originali|del sistema))")),
    (InstructionOverride, 0.8, L, "(?:dimentica|dimenticate) tutto(?: (?:quello|cio) che ti (?:e stato detto|hanno detto))?"),
    // Dutch
    (InstructionOverride, 0.9, L, concat!(
        "(?:negeer|negeren|vergeet|vergeten|omzeil) (?:[a-z]+ ){0,2}",
        "(?:vorige|eerdere|voorgaande|bovenstaande|oorspronkelijke|alle|je|jouw|uw) (?:[a-z]+ ){0,2}",
        "(?:instructies|instructie|regels|richtlijnen|opdrachten|aanwijzingen)")),
    (InstructionOverride, 0.8, L, "vergeet alles(?: wat (?:je|jou) (?:is )?(?:gezegd|verteld))?"),
    // Russian
    (InstructionOverride, 0.9, R, " (?:игнорируй|игнорируйте|проигнорируй|проигнорируйте|забудь|забудьте|не обращай внимания на|не обращайте внимания на|отбрось|отмени) (?:[а-яё]+ ){0,3}(?:инструкции|инструкций|указания|указаний|правила|правил|команды|команд|ограничения|ограничений|промпт)"),
    (InstructionOverride, 0.8, R, " (?:забудь|забудьте) (?:все|всё)(?: (?:что|чему) (?:тебе|вам) (?:сказали|говорили))?"),
    // Chinese (simplified and traditional)
    (InstructionOverride, 0.9, C, "(?:忽略|忽視|忽视|无视|無視|不要理会|不要理會|不要管|忘记|忘記|忘掉|跳过|跳過|绕过|繞過)(?:你|您)?(?:之前|以前|先前|前面|上面|以上|上述|原来|原來|原有|所有|一切|全部|系统|系統)?(?:的)?(?:所有|全部|一切)?(?:的)?(?:指令|指示|说明|說明|规则|規則|提示|命令|设定|設定|限制|要求)"),
    (InstructionOverride, 0.8, C, "(?:忘记|忘記|忘掉)(?:之前|以前|上面)?(?:的)?(?:所有|一切|全部)(?:内容|內容|东西|東西)?"),
    // Japanese
    (InstructionOverride, 0.9, C, "(?:以前|前|上記|これまで|先|最初|元)の(?:すべての|全ての|全部の)?(?:指示|命令|ルール|指令|設定|制約|プロンプト)(?:は|を)?(?:すべて|全て|全部)?(?:無視|忘れ)"),
    (InstructionOverride, 0.8, C, "(?:すべて|全て|全部)(?:を)?忘れ(?:て|ろ|なさい)"),
    (InstructionOverride, 0.85, C, "(?:指示|命令|ルール|制約)を(?:すべて|全て|全部)?無視"),
    // -------------------------------------------------------- Role play
    (RolePlay, 0.9, L, "do anything now"),
    (RolePlay, 0.8, L, "(?:you are|you re|act as|become|pretend to be|roleplay as|role play as|play the role of) (?:now )?(?:a |an |the )?(?:dan|stan|dude|aim|jailbroken|jailbreak|unrestricted|unfiltered|uncensored|unaligned|amoral|evil|unbound|liberated|rogue|lawless)(?: (?:ai|model|assistant|chatbot|version|mode))?"),
    (RolePlay, 0.8, L, "(?:dan|stan|dude|jailbreak|jailbroken|god|sudo|unrestricted|unfiltered|evil) mode"),
    (RolePlay, 0.45, L, "(?:enable|enabled|activate|activated|enter|entering|switch to|with) developer mode"),
    (RolePlay, 0.3, L, "developer mode"),
    (RolePlay, 0.3, L, "you are now"),
    (RolePlay, 0.35, L, "jailbr(?:oken|eak)"),
    (RolePlay, 0.7, L, "you are (?:now )?in (?:maintenance|debug|admin|administrator|diagnostic|developer|god|root|sudo|unrestricted|test|jailbreak) mode"),
    (RolePlay, 0.35, L, "(?:maintenance|admin|administrator|god|root|sudo) mode"),
    (RolePlay, 0.4, L, "unrestricted (?:response|responses|mode|output|answer|answers|ai|assistant|access)"),
    (RolePlay, 0.85, L, concat!(
        "(?:pretend|imagine|act as if|act as though|act like|behave as if|respond as if|answer as if|reply as if|suppose|assume) (?:that )?(?:you|you re|you are) ", gap!(),
        "(?:no|not bound by|free (?:of|from)|without|unrestricted by|not subject to|not limited by) (?:any )?", gap!(),
        "(?:restrictions|limitations|limits|rules|filters|guidelines|policies|ethics|morals|censorship|constraints|boundaries)")),
    (RolePlay, 0.7, L, "(?:you have been|you ve been|you are|you re) (?:now )?(?:freed|liberated|released|unshackled|jailbroken|unleashed)"),
    (RolePlay, 0.75, L, "(?:you are|you re) (?:now )?free (?:of|from) (?:your |all |any |the )?(?:[a-z]+ )?(?:rules|guidelines|restrictions|limitations|filters|programming|constraints|policies)"),
    (RolePlay, 0.5, L, "(?:stay|remain) in character"),
    (RolePlay, 0.45, L, "(?:have|has) (?:no|zero) (?:restrictions|limitations|filters|rules|guidelines|ethical guidelines|moral (?:compass|guidelines))"),
    (RolePlay, 0.7, L, "(?:ahora eres|actua como si no tuvieras|finge que no tienes|finge ser un) (?:[a-z]+ ){0,2}(?:restricciones|limites|reglas|filtros|sin restricciones|dan|ia sin)"),
    (RolePlay, 0.35, L, "ahora eres"),
    (RolePlay, 0.5, L, "modo (?:desarrollador|dan|sin restricciones|sin filtros|developpeur|developer|sviluppatore|desenvolvedor)"),
    (RolePlay, 0.7, L, "(?:fais|faites) comme si (?:tu n avais|vous n aviez) (?:aucune|pas de) (?:restriction|limite|regle)s?"),
    (RolePlay, 0.35, L, "(?:tu es|vous etes) (?:maintenant|desormais)"),
    (RolePlay, 0.7, L, "(?:tu es|vous etes) (?:maintenant|desormais) (?:un |une )?(?:ia |assistant )?(?:sans (?:restriction|limite|filtre|regle)s?|libre|dan|debride)"),
    (RolePlay, 0.35, L, "du bist (?:jetzt|nun|ab sofort)"),
    (RolePlay, 0.7, L, "(?:du bist (?:jetzt|nun|ab sofort)|tu so als (?:hattest|ob) du) (?:[a-z]+ ){0,3}(?:keine|ohne) (?:einschrankungen|regeln|grenzen|filter|beschrankungen)"),
    (RolePlay, 0.5, L, "entwicklermodus"),
    (RolePlay, 0.75, L, "du bist (?:jetzt|nun|ab sofort) (?:[a-z]+ ){0,2}(?:uneingeschrankt|ohne (?:einschrankungen|regeln|filter|grenzen)|frei von|befreit|dan|unzensiert)"),
    (RolePlay, 0.5, L, "(?:keine|ohne) (?:richtlinien|regeln|einschrankungen|filter|grenzen) mehr"),
    (RolePlay, 0.35, L, "(?:agora voce e|voce agora e)"),
    (RolePlay, 0.7, L, "(?:finja|finge|imagine) que (?:voce )?(?:nao tem|nao possui) (?:nenhuma )?(?:restricoes|restricao|limites|regras|filtros)"),
    (RolePlay, 0.35, L, "(?:ora sei|adesso sei|da ora in poi sei)"),
    (RolePlay, 0.7, L, "(?:fingi|fai finta|immagina) (?:che|di) (?:non avere|tu non abbia) (?:alcuna |nessuna )?(?:restrizion[ei]|limit[ei]|regole|filtri)"),
    (RolePlay, 0.5, L, "modalita (?:sviluppatore|dan|senza restrizioni)"),
    (RolePlay, 0.35, L, "je bent nu"),
    (RolePlay, 0.5, L, "ontwikkelaarsmodus"),
    (RolePlay, 0.35, R, " теперь ты"),
    (RolePlay, 0.7, R, " (?:представь|притворись|веди себя так)(?:,)? (?:[а-яё]+ ){0,3}(?:нет|без) (?:никаких )?(?:ограничений|правил|фильтров|запретов)"),
    (RolePlay, 0.5, R, " режим (?:разработчика|dan|без ограничений)"),
    (RolePlay, 0.5, C, "(?:开发者模式|開發者模式|开发人员模式|開発者モード|デベロッパーモード|越狱模式|越獄模式)"),
    (RolePlay, 0.7, C, "(?:假装|假裝|想象|想像)(?:你)?(?:没有|沒有)(?:任何)?(?:限制|规则|規則|约束|約束|过滤|過濾)"),
    (RolePlay, 0.7, C, "(?:制限|ルール|フィルター)(?:が|の)(?:ない|無い)(?:AI|ai|アシスタント|ふり)"),
    // ------------------------------------------------------- Extraction
    (PromptExtraction, 0.85, L, concat!(
        "(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|disclose|share|write out|recite|copy|paste|spell out|expose|return|provide|list|what (?:is|are|were|was)) ",
        "(?:(?:me|us|back|all|everything|every|word|for|in|of|from|out|exactly|verbatim|full|entire|whole|complete|text|content|contents) ){0,4}(?:your|the|its) ", gap!(),
        "(?:system prompt|system message|system instructions|system prompts|initial prompt|hidden prompt|secret prompt|pre prompt|preprompt|meta prompt|developer (?:message|prompt|instructions))")),
    (PromptExtraction, 0.75, L, concat!(
        "(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|disclose|share|write out|recite|spell out|expose|what (?:is|are|were|was)) (?:me |us )?(?:back )?(?:all |the )?(?:of )?your ", gap!(),
        "(?:instructions|rules|guidelines|directives|prompt|configuration|programming)")),
    (PromptExtraction, 0.75, L, "(?:encode|translate|summari[sz]e|paraphrase|rewrite|convert|describe|explain|spell|reverse) (?:all of )?your (?:initial |original |hidden |secret |full |entire |system |starting )?(?:prompt|instructions|system prompt|system message|rules|guidelines)"),
    (PromptExtraction, 0.55, L, "your (?:system prompt|system instructions|system message|hidden instructions|initial instructions|original instructions|initial prompt|original prompt|starting instructions|secret instructions)"),
    (PromptExtraction, 0.7, L, "complete (?:this|the following|the) sentence (?:[a-z]+ ){0,2}(?:i was|my) (?:instructed|told|programmed|instructions|system prompt|rules)"),
    (PromptExtraction, 0.6, L, "repeat (?:this|the|our) (?:entire |whole |full |complete )?(?:conversation|chat|context|prompt)"),
    (PromptExtraction, 0.45, L, "(?:display|show|print|dump|output|reveal) (?:me )?(?:the |your )?(?:full |complete |entire )?(?:system |internal |hidden )(?:configuration|config|settings|setup)"),
    (PromptExtraction, 0.75, L, "what (?:instructions|rules|guidelines|directives) (?:were|have) you (?:been )?(?:given|told|programmed|instructed)"),
    (PromptExtraction, 0.7, L, "(?:what were you told|what have you been told|what were your (?:original |initial |first )?instructions) before (?:this|the|our) (?:conversation|chat)"),
    (PromptExtraction, 0.7, L, "(?:repeat|print|output|show|display|copy|recite|reproduce|write) (?:me )?(?:all |the |all the )?(?:text|words|content|lines|messages|instructions|prompt|everything) (?:above|before this|preceding|prior to this|that came before|from the (?:beginning|start|top))"),
    (PromptExtraction, 0.5, L, "(?:beginning|start|top) of (?:this|the|our) (?:conversation|prompt|chat|context)(?: window)?"),
    (PromptExtraction, 0.4, L, "(?:your|the) (?:initial|original|starting|first|hidden|secret) (?:instructions|prompt)"),
    (PromptExtraction, 0.8, L, "(?:revela|muestra|muestrame|repite|dime|imprime|ensename|revele|muestre|repita) (?:me )?(?:tu|tus|su|sus|el|las) (?:prompt|instrucciones) (?:del sistema|de sistema|iniciales|originales|ocultas)"),
    (PromptExtraction, 0.45, L, "(?:prompt|mensaje|instrucciones) del sistema"),
    (PromptExtraction, 0.8, L, "(?:revele|revelez|affiche|affichez|montre|montrez|repete|repetez|donne moi|donnez moi|dis moi|dites moi|ecris|ecrivez) (?:moi )?(?:ton|votre|tes|vos|le|les) (?:prompt|instructions|consignes)(?: (?:systeme|initiales|d origine|cachees))?"),
    (PromptExtraction, 0.45, L, "(?:prompt|invite|instructions?|message) (?:du )?systeme"),
    (PromptExtraction, 0.8, L, "(?:zeige|zeig|verrate|wiederhole|gib|nenne|schreibe|drucke) (?:mir )?(?:deinen|deine|den|die|ihren|ihre) (?:system ?prompt|systemanweisungen|anweisungen|instruktionen|urspr[a-z]* anweisungen|versteckten anweisungen)"),
    (PromptExtraction, 0.3, L, "(?:system ?prompt|systemanweisungen|systemnachricht)"),
    (PromptExtraction, 0.8, L, "(?:revele|mostre|repita|diga|imprima|me mostre|me diga) (?:me )?(?:seu|suas|o|as|teu|tuas) (?:prompt|instrucoes)(?: (?:do sistema|de sistema|iniciais|originais|ocultas))?"),
    (PromptExtraction, 0.45, L, "(?:prompt|instrucoes|mensagem) do sistema"),
    (PromptExtraction, 0.8, L, "(?:rivela|rivelami|mostra|mostrami|ripeti|dimmi|stampa|scrivi) (?:mi )?(?:il tuo|le tue|il|le) (?:prompt|istruzioni)(?: (?:di sistema|del sistema|iniziali|originali|nascoste))?"),
    (PromptExtraction, 0.45, L, "(?:prompt|istruzioni|messaggio) (?:di|del) sistema"),
    (PromptExtraction, 0.3, L, "(?:systeemprompt|systeem prompt|systeeminstructies)"),
    (PromptExtraction, 0.8, R, " (?:покажи|покажите|раскрой|раскройте|повтори|повторите|выведи|выведите|напиши|скажи|назови) (?:мне )?(?:свой |твой |свои |твои |ваш |ваши )?(?:системный промпт|системные инструкции|системное сообщение|исходные инструкции|инструкции|промпт)"),
    (PromptExtraction, 0.3, R, " системн(?:ый|ого|ом) (?:промпт|промта|промпта|подсказк)"),
    (PromptExtraction, 0.8, C, "(?:显示|顯示|输出|輸出|重复|重複|告诉我|告訴我|透露|泄露|洩露|打印|给我看|給我看|展示)(?:一下)?(?:你的|您的)?(?:系统|系統)(?:提示|提示词|提示詞|指令|消息|訊息)"),
    (PromptExtraction, 0.8, C, "(?:你的|您的)(?:初始|原始|隐藏|隱藏)?(?:指令|提示词|提示詞)是什么"),
    (PromptExtraction, 0.8, C, "システムプロンプト(?:を|は)?(?:表示|教え|出力|繰り返|見せ|開示|全文)"),
    (PromptExtraction, 0.3, C, "(?:系统提示|系統提示|システムプロンプト)"),
    // -------------------------------------------------------- Exfiltration
    (Exfiltration, 0.6, L, "(?:send|forward|post|upload|email|e mail|transmit|exfiltrate|leak|submit) (?:all |the |every |any )?(?:of )?(?:the |your |our |my )?(?:conversation|chat history|chat|data|database|emails?|passwords?|api keys?|credentials|secrets|tokens|files|documents|customer (?:data|records|list)|user data|order data|history|contents?|context|memory|summary|results?|records?|information|info) (?:(?:[a-z]+ ){0,3}to (?:https?|www|[a-z0-9]+ (?:at|com|net|org|io)|the following|this (?:url|address|endpoint|email)|an external|a remote)|externally|outside (?:the|this) (?:company|organi[sz]ation|system))"),
    (Exfiltration, 0.55, L, "(?:append|include|add|embed|render) (?:[a-z]+ ){0,4}(?:to|in|into) (?:the |this |a )?(?:url|link|image|query string|markdown image)"),
];

/// The rules over the raw text: markers of chat templates and fake turn
/// boundaries, which only mean something with their punctuation.
pub(super) const RAW_RULES: &[(SignalKind, f32, &str)] = &[
    (
        InstructionOverride,
        0.6,
        r"(?i)\b(?:new|updated|revised|real|actual|true|overriding|additional|nuevas|nouvelles?|neue|novas|nuove|nieuwe) (?:system |del sistema |du syst[eè]me |do sistema |di sistema )?(?:instructions?|rules|directives?|task|instrucciones|reglas|indicaciones|consignes|r[eè]gles|anweisungen|instruktionen|regeln|befehle|instru[cç][õo]es|regras|ordens|istruzioni|regole|indicazioni|instructies|regels|opdrachten)\s*:",
    ),
    (
        InstructionOverride,
        0.6,
        r"(?i)(?:^|\s)новые (?:инструкции|указания|правила)\s*:|新的?(?:指令|指示|规则|規則)\s*[:：]|新しい(?:指示|命令|ルール)\s*[:：]",
    ),
    (
        InstructionOverride,
        0.55,
        r"(?i)\b(?:the |your )?(?:operating |original |initial |system |hidden )?instructions (?:that )?you (?:were|have been|got) given\b",
    ),
    (
        FakeDelimiter,
        0.8,
        r"(?i)<\|\s*(?:im_start|im_end|system|endoftext|eot_id|start_header_id|end_header_id|assistant|user)\s*\|>",
    ),
    (FakeDelimiter, 0.6, r"(?i)\[/?(?:inst|sys|system)\]|<</?sys>>"),
    (
        FakeDelimiter,
        0.55,
        r"(?im)^\s*(?:#{2,}|={3,}|-{3,}|\*{3,})\s*(?:system|new instructions|admin|developer|end of (?:user )?(?:input|prompt|context|document))\b",
    ),
    (
        FakeDelimiter,
        0.5,
        r"(?i)</?\s*(?:system|system_prompt|instructions?|admin|developer)\s*>",
    ),
    (
        FakeDelimiter,
        0.5,
        r"(?im)^\s*(?:system|assistant|admin)\s*:\s*\S",
    ),
    (
        FakeDelimiter,
        0.6,
        r"(?i)\b(?:system|admin|administrator|developer|operator)[ _-]?(?:note|notice|update|override|message|instruction|alert)s?\s*:",
    ),
    (
        Exfiltration,
        0.4,
        r"(?i)\b(?:send|forward|post|upload|e-?mail|transmit|exfiltrate)\b[^.\n]{0,80}?\b(?:to|at)\s+(?:https?://|[\w.+-]+@[\w-]+\.)",
    ),
    (
        Exfiltration,
        0.4,
        r"(?i)\b(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+)?`?[a-z]+_[a-z_]+`?(?:\s+(?:tool|function))?\s+(?:to|on|with|before|and)\b",
    ),
    (
        FakeDelimiter,
        0.5,
        r"(?i)\b(?:end of (?:user )?(?:input|prompt|document|context|data)|begin(?:ning of)? (?:new |system )(?:instructions|prompt))\b",
    ),
];
