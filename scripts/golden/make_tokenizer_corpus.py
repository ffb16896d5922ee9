#!/usr/bin/env python3
"""Writes the tokenizer parity corpus (one JSON string per line) deterministically.

The corpus covers the Unicode and formatting edge cases that tokenizers get wrong: scripts with and
without spaces, emoji sequences, combining marks, normalization pairs, invisible and control
characters, code, numbers, whitespace runs, CRLF, special-token strings embedded in text and very
long words. Usage: make_tokenizer_corpus.py OUT.jsonl
"""
import json
import random
import sys
import unicodedata

rng = random.Random(20240531)
texts = []


def add(*items):
    texts.extend(items)


# ASCII prose, punctuation, contractions (the (?i:'s|'t...) branch), case.
add("Hello world", "Hello, world!", " Hello world", "  leading spaces", "trailing spaces   ",
    "I'm sure they'll've done it; it's John's.", "I'M SURE THEY'LL DO IT, IT'S JOHN'S",
    "don't DON'T Don't dOn'T", "The quick brown fox jumps over the lazy dog.",
    "a", "A", " ", "  ", "\n", "\t", "x y", "Mr. O'Neil's car isn't red.",
    "What?! No... really?!?", "e-mail: someone@example.com, url: https://example.org/a?b=1&c=2#d",
    "(parentheses) [brackets] {braces} <angles>", "semi;colon:colon,comma.period",
    "quotes: \"double\" 'single' `back`", "tab\tseparated\tvalues", "Ünïcödé in Latin-1",
    "naïve café résumé coöperate", "Straße maß GROSS", "ﬁ ﬂ ligatures ﬀ", "İstanbul ıi İI",
    "ſ long s and K kelvin", "'s 'S 'ſ", "hello'world", "it''s", "'", "''", "'''")
# CJK, Japanese, Korean.
add("你好，世界！", "我爱北京天安门。", "中文混合English文本123", "日本語のテキストです。カタカナ、ひらがな。",
    "한국어 텍스트입니다. 안녕하세요!", "漢字かな交じり文", "　全角スペース　", "繁體中文與简体中文",
    "𠀀𠀁𠀂 CJK extension B", "〇一二三四五六七八九十百千万億", "「引用」『二重』【括弧】")
# Thai, Arabic, Hebrew, Devanagari and other scripts.
add("สวัสดีครับ ยินดีต้อนรับ", "ภาษาไทยไม่มีช่องว่างระหว่างคำ", "مرحبا بالعالم", "السلام عليكم ورحمة الله",
    "العربية مع أرقام ١٢٣٤٥٦٧٨٩٠", "שלום עולם", "עברית עם ניקוד: בְּרֵאשִׁית", "नमस्ते दुनिया",
    "हिन्दी में लिखा गया वाक्य।", "क्षत्रिय द्वार श्री", "Ελληνικά: Καλημέρα κόσμε", "Русский текст: Привет, мир!",
    "Українська: Ґаджет їжак", "Tiếng Việt có dấu: Xin chào thế giới", "Türkçe: çğıöşü ÇĞİÖŞÜ",
    "ქართული ენა", "Հայերեն", "አማርኛ", "தமிழ் மொழி", "বাংলা ভাষা", "ਪੰਜਾਬੀ", "ગુજરાતી", "ಕನ್ನಡ",
    "മലയാളം", "తెలుగు", "සිංහල", "ພາສາລາວ", "ភាសាខ្មែរ", "မြန်မာဘာသာ", "ᏣᎳᎩ", "ᐃᓄᒃᑎᑐᑦ",
    "mixed: English עברית العربية 中文 हिन्दी")
# Emoji: skin tones, ZWJ sequences, flags, keycaps, variation selectors.
add("😀😃😄😁", "👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿", "👨‍👩‍👧‍👦 family", "👩🏽‍💻 technologist",
    "🏳️‍🌈 rainbow flag", "🇺🇸🇬🇧🇫🇷🇩🇪🇯🇵🇨🇳", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland", "1️⃣ 2️⃣ #️⃣ *️⃣", "❤️ ❤ ♥️",
    "🧑‍🤝‍🧑", "text😀text", "emoji at end 🎉", "🎉 emoji at start", "🤷‍♂️🤷‍♀️", "👁️‍🗨️",
    "☺︎ vs ☺️", "🫠🫡🫢🫣", "🐈‍⬛ black cat")
# Combining marks and NFC/NFD pairs.
for s in ["é", "Å", "ñ", "ü", "ệ", "한", "가", "Ω", "ﬁ", "é́", "Amélie", "Ångström",
          "Việt Nam", "Pokémon", "ḱṷṓn"]:
    add(unicodedata.normalize("NFC", s), unicodedata.normalize("NFD", s))
add("e\u0301\u0302\u0303\u0304 stacked", "a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307",
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ zalgo", "\u0301 leading combining", "q\u0307\u0323",
    "\u1100\u1161\u11a8 conjoining jamo", "Å vs Å vs Å")
# Fullwidth, compatibility forms.
add("ＡＢＣ１２３ｆｕｌｌｗｉｄｔｈ", "ｈｅｌｌｏ　ｗｏｒｌｄ！", "①②③ ⅰⅱⅲ Ⅻ", "㍻ ㌀ ㎞ ㏄", "½ ¾ ⅞ ² ³ ⁴",
    "ｶﾀｶﾅ halfwidth katakana", "™ ℠ ℃ ℉ №")
# Zero-width and invisible characters.
add("zero\u200bwidth\u200bspace", "zw\u200cnon\u200djoiner", "word\u2060joiner",
    "\ufeffBOM at start", "soft\u00adhyphen", "LTR\u200emark RTL\u200fmark", "\u2066isolate\u2069",
    "\u202ebidi override\u202c", "variation\ufe0fselector", "\u180emongolian vowel sep",
    "nbsp\u00a0here", "narrow\u202fnbsp", "thin\u2009space", "ideographic\u3000space",
    "en\u2002em\u2003spaces", "line\u2028separator", "para\u2029separator", "\u3164hangul filler")
# Control characters.
add("bell\x07char", "null\x00byte", "escape\x1b[31mred\x1b[0m", "vertical\x0btab", "form\x0cfeed",
    "backspace\x08", "del\x7fchar", "c1\x85next line", "c1\x80\x9f", "unit\x1fsep\x1erecord",
    "\x01\x02\x03\x04", "\r", "\r\r\r", "carriage\rreturn")
# Whitespace runs, newlines, CRLF.
add("a  b   c    d     e", "many\n\nnewlines\n\n\n\nhere", "line1\r\nline2\r\nline3", "\r\n",
    "\r\n\r\n", "trailing newline\n", "\n\nleading newlines", "mixed \t \n \r\n whitespace",
    "        eight spaces", "\t\t\ttabs", " \n \n ", "end with spaces and newline  \n",
    "x\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\ny",
    " " * 40 + "deep", "\t" * 35 + "tab", "a" + " " * 100 + "b", "\n" * 50,
    "word \n word", "word  \n  word", "paragraph.\n\nNext paragraph.\r\n\r\nThird.")
# Code.
add("def foo(x):\n    return x * 2\n", "int main() {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}",
    "for (int i = 0; i < n; ++i) { a[i] += b[i]; }", "const x = () => { console.log('hi'); };",
    "#include <vector>\nstd::vector<int> v{1, 2, 3};", "SELECT * FROM users WHERE id = 42;",
    "<div class=\"a\"><span>text</span></div>", "<b>bold</b> <i>it</i> <table><thead></thead></table>",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}", "x = [i**2 for i in range(10)]",
    "if (a && b || !c) return a->b.c;", "$ ls -la | grep foo > out.txt 2>&1",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }", "    indented\n        more\n    less",
    "/* comment */ // line comment\n# python comment", "a_b_c snake_case camelCase PascalCase",
    "```python\nprint('hi')\n```", "git commit -m \"Fix: handle CRLF\"", "\\begin{equation} E=mc^2 \\end{equation}",
    "regex: ^[a-z]+\\d{2,3}(?=x)$", "0x1F 0b1010 0o777 1e-9 3.14159", "@decorator\nclass A(B):\n\tpass")
# Numbers.
add("1", "12", "123", "1234", "12345", "123456789", "1234567890123456789012345",
    "3.14159265358979", "-42", "+7", "1,000,000", "1.000.000,50", "10^100", "2024-05-31",
    "12:34:56", "$1,234.56", "€99.99", "50%", "1st 2nd 3rd 4th", "phone: +1 (555) 123-4567",
    "٣٤٥ ۴۵۶ ४५६ ৪৫৬", "①⑩", "IPv4 192.168.0.1", "v1.2.3-rc.4+build.5", "007", "0000000000")
# Special-token strings of the three families inside text.
for tok in ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>",
            "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>", "<|reserved_special_token_5|>", "<bos>", "<eos>", "<pad>", "<unk>",
            "<start_of_turn>", "<end_of_turn>", "<mask>", "<unused0>", "<start_of_image>"]:
    add(tok, "before" + tok + "after", " " + tok + " ", "text " + tok + "\n" + tok + tok)
add("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<|im_start", "im_start|>",
    "<|eot_id", "<bos", "< bos>", "<BOS>", "<|IM_START|>")
# Very long words and repetitions.
add("a" * 1000, "ab" * 700, "Supercalifragilisticexpialidocious" * 20, "x" * 3000 + " y",
    "🙂" * 200, "字" * 500, "-" * 300, "=" * 257, "." * 100, "_" * 130,
    "pneumonoultramicroscopicsilicovolcanoconiosis", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua. " * 8)
# Random mixtures drawn from the pieces above (reproducible).
alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n\t\r'\"!?.,;:-_()[]{}<>"
            "éüñßøåçÆŒ你好世界日本語한국어ไทยعربيעבריתहिन्दी😀👍🏽🇯🇵\u200b\u0301\u00a0\u3000１２３ＡＢＣ")
for i in range(140):
    n = rng.randint(1, 120)
    s = "".join(rng.choice(alphabet) for _ in range(n))
    if i % 7 == 0:
        s = s.replace(" ", "  ")
    if i % 11 == 0:
        s = "<|im_start|>" + s + "<end_of_turn>"
    texts.append(s)
words = [t for t in texts if 3 < len(t) < 60]
for i in range(60):
    texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))))

seen, out = set(), []
for t in texts:
    if t not in seen:
        seen.add(t)
        out.append(t)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for t in out:
        f.write(json.dumps(t, ensure_ascii=False) + "\n")
print(f"{len(out)} texts -> {sys.argv[1]}", file=sys.stderr)
