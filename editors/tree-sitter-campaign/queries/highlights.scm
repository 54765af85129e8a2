; Highlights for .campaign files, in the capture names the tree-sitter CLI's
; theme, Neovim and Zed share (docs/editors.md says how Helix names differ).
; Where two patterns capture one node, the later wins in Neovim and Zed and
; the first in tree-sitter-highlight and Helix: so no node here has two (the
; grammar names a JSON key and a secret's name apart from other strings).

(comment) @comment

; --- strings and what is inside them -----------------------------------------

(string (string_content) @string)
(string "\"" @string)
(escape_sequence) @string.escape

; A merge: `[Field | filter: 'arg']`, inside a string or bare.
(merge "[" @punctuation.special)
(merge "]" @punctuation.special)
(field_name) @variable
(filter "|" @punctuation.special)
(filter_name) @function
(filter_string) @string
(filter_number) @number

; `secret("NAME")`: the name of an environment variable, not text.
"secret" @function.builtin
(secret "(" @punctuation.bracket)
(secret ")" @punctuation.bracket)
(secret_name (string_content) @constant)
(secret_name "\"" @string)

; --- literals ----------------------------------------------------------------

(number) @number
(integer) @number
(duration unit: (unit) @type.builtin)
(rate_setting (unit) @type.builtin)
(percent "%" @type.builtin)
(timestamp) @string.special
[(true) (false) (null)] @constant.builtin
(http_method) @constant.builtin
[(contact_added) (tag_added) (webhook_received)] @constant.builtin

; A JSON body's keys.
(json_key (string_content) @property)
(json_key "\"" @property)

; --- keywords ------------------------------------------------------------------

[
  "campaign"
  "trigger"
  "verify"
  "standard"
  "github"
  "none"
  "webhook"
  "tag"
  "add"
  "remove"
  "field"
  "set"
  "note"
  "wait"
  "until"
  "if"
  "else"
  "split"
  "goal"
  "when"
  (stop)
  "method"
  "url"
  "header"
  "post"
  "json"
  "timeout"
  "retry"
  "backoff"
  "rate"
  "on"
  "failure"
  "continue"
  "stop"
  "sign"
  "capture"
  "dynamic"
  "host"
] @keyword

[
  "and"
  "or"
  "not"
  "has"
  "is"
  "empty"
] @keyword.operator

(compare_op) @operator
["=" "+" "/"] @operator

["{" "}" "(" ")"] @punctuation.bracket
(json_array ["[" "]"] @punctuation.bracket)
[":" ","] @punctuation.delimiter
