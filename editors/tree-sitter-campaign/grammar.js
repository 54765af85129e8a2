/**
 * @file A tree-sitter grammar for .campaign files, for highlighting in
 * Helix, Zed and Neovim. It follows grammar/campaign.pest (the one parser
 * that compiles campaigns) and src/syntax/template.rs (what is inside a
 * string: text, escapes and `[Field | filter: 'arg']` merges), so that every
 * file `campaign check` parses, this grammar parses without errors
 * (tests/tree_sitter.rs holds it to that over the examples and fixtures).
 * It does not check: a misspelt unit or method still parses here, and
 * `campaign check` (or `campaign lsp`) reports it.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

/** One or more `rule`s separated by commas, with an optional trailing comma. */
function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)));
}

// A merge's field name: not `]`, a newline, quotes or a backslash (pest's
// `merge` rule), nor `[` (another merge) or `|` (a filter), and neither
// starting nor ending with a space, so that the name's node is the name.
const FIELD_NAME = /[^\s|\]\["'\\]([^\n|\]\["'\\]*[^\s|\]\["'\\])?/;
// In a JSON body `[` opens an array when a JSON value follows, as pest
// tries the array first: so a bare merge's name there cannot start like a
// number, an object or a string. (`[true, 1]` still reads as a merge here,
// where pest reads an array: a lexer without lookahead cannot tell `true,`
// from `trueish`, and the text only looks different, it still parses.)
const JSON_FIELD_NAME = /[^\s|\]\["'\\0-9{-]([^\n|\]\["'\\]*[^\s|\]\["'\\])?/;

module.exports = grammar({
  name: 'campaign',

  extras: $ => [/\s|\uFEFF/, $.comment],

  rules: {
    source_file: $ => optional($.campaign),

    // --- trivia ------------------------------------------------------------

    comment: _ => token(seq('//', /[^\n]*/)),

    // --- the file ----------------------------------------------------------

    campaign: $ => seq(
      'campaign',
      field('name', $.string),
      '{',
      repeat(choice($.trigger, $._step)),
      '}',
    ),

    trigger: $ => seq('trigger', choice(
      $.contact_added,
      seq($.tag_added, field('tag', $.string)),
      seq($.webhook_received, field('path', $.string), optional($.verify)),
    )),
    contact_added: _ => 'contact_added',
    tag_added: _ => 'tag_added',
    webhook_received: _ => 'webhook_received',

    verify: $ => seq('verify', choice(
      seq('standard', $.secret),
      seq('github', $.secret),
      'none',
    )),

    // --- steps ---------------------------------------------------------------

    _step: $ => choice(
      $.webhook,
      $.tag_step,
      $.field_set,
      $.note,
      $.wait,
      $.if,
      $.split,
      $.stop,
      $.goal,
    ),

    block: $ => seq('{', repeat($._step), '}'),

    tag_step: $ => seq('tag', choice('add', 'remove'), field('tag', $.string)),
    field_set: $ => seq('field', 'set', field('target', $.merge), '=', field('value', $._operand)),
    note: $ => seq('note', $.string),
    wait: $ => seq('wait', choice(
      seq('until', choice($.timestamp, $.merge, $.string)),
      $.duration,
    )),
    stop: _ => 'stop',
    goal: $ => seq('goal', field('name', $.string), 'when', field('condition', $._condition)),

    if: $ => seq(
      'if',
      field('condition', $._condition),
      field('consequence', $.block),
      repeat($.else_if),
      optional($.else),
    ),
    else_if: $ => seq('else', 'if', field('condition', $._condition), field('consequence', $.block)),
    else: $ => seq('else', $.block),

    split: $ => seq('split', $.percent, $.block, 'else', $.block),
    percent: $ => seq($.integer, token.immediate('%')),

    // --- webhooks ------------------------------------------------------------

    webhook: $ => seq('webhook', field('name', $.string), '{', repeat($._setting), '}'),

    _setting: $ => choice(
      $.method_setting,
      $.url_setting,
      $.header_setting,
      $.post_setting,
      $.json_setting,
      $.timeout_setting,
      $.retry_setting,
      $.backoff_setting,
      $.rate_setting,
      $.on_failure_setting,
      $.sign_setting,
      $.capture_setting,
      $.dynamic_host_setting,
    ),

    method_setting: $ => seq('method', $.http_method),
    // Any word: an unknown method parses, and `campaign check` names it.
    http_method: _ => /[A-Za-z]+/,
    url_setting: $ => seq('url', $.string),
    header_setting: $ => seq(
      'header',
      field('name', $.string),
      '=',
      field('value', seq($._header_part, repeat(seq('+', $._header_part)))),
    ),
    _header_part: $ => choice($.secret, $.string),
    // The name of an environment variable, a string in pest; named apart for
    // the same reason as a JSON key.
    secret: $ => seq('secret', '(', field('name', alias($.string, $.secret_name)), ')'),
    post_setting: $ => seq('post', $.string),
    json_setting: $ => seq('json', choice($.json_object, $.json_array)),
    timeout_setting: $ => seq('timeout', $.duration),
    retry_setting: $ => seq('retry', $.integer),
    backoff_setting: $ => seq('backoff', $.duration),
    rate_setting: $ => seq('rate', $.integer, '/', $.unit),
    on_failure_setting: _ => seq('on', 'failure', choice('continue', 'stop')),
    sign_setting: $ => seq('sign', $.secret),
    capture_setting: $ => seq(
      'capture',
      field('target', $.merge),
      '=',
      choice(seq('json', field('pointer', $.string)), seq('header', field('header', $.string))),
    ),
    dynamic_host_setting: _ => seq('dynamic', 'host'),

    // --- JSON bodies: real JSON, plus bare merges as values ------------------

    _json_value: $ => choice(
      $.json_object,
      $.json_array,
      $.string,
      alias($._json_merge, $.merge),
      $.number,
      $.true,
      $.false,
      $.null,
    ),
    json_object: $ => seq('{', optional(seq(commaSep1($.json_member), optional(','))), '}'),
    // A key is a string (merges and all), named apart so that a query can
    // colour it without two patterns capturing one node.
    json_member: $ => seq(field('key', alias($.string, $.json_key)), ':', field('value', $._json_value)),
    json_array: $ => seq('[', optional(seq(commaSep1($._json_value), optional(','))), ']'),

    // --- conditions: `or` binds loosest, then `and`, then `not` --------------

    _condition: $ => choice($.or, $.and, $._negation),
    or: $ => prec.left(1, seq($._condition, 'or', $._condition)),
    and: $ => prec.left(2, seq($._condition, 'and', $._condition)),
    _negation: $ => choice($.not, $._primary),
    not: $ => seq('not', $._negation),
    _primary: $ => choice($.parenthesized, $.has_tag, $.comparison),
    parenthesized: $ => seq('(', $._condition, ')'),
    has_tag: $ => seq('has', 'tag', $.string),
    comparison: $ => seq(
      field('left', $._operand),
      optional(choice(
        $.is_empty,
        $.is_not_empty,
        seq(field('operator', $.compare_op), field('right', $._operand)),
      )),
    ),
    is_empty: _ => seq('is', 'empty'),
    is_not_empty: _ => seq('is', 'not', 'empty'),
    compare_op: _ => choice('==', '!=', '<=', '>=', '<', '>', 'contains', 'starts_with', 'ends_with'),
    _operand: $ => choice($.merge, $.string, $.number, $.true, $.false),

    // --- literals --------------------------------------------------------------

    number: _ => /-?\d+(\.\d+)?([eE][+-]?\d+)?/,
    integer: _ => /\d+/,
    true: _ => 'true',
    false: _ => 'false',
    null: _ => 'null',

    // `2 days`, `5s`, `1.5 hours`: any word is a unit here, and `campaign
    // check` says which it does not know.
    duration: $ => seq(field('value', alias(/\d+(\.\d+)?/, $.number)), field('unit', $.unit)),
    unit: _ => /[A-Za-z]+/,

    timestamp: _ => /\d{4}-\d{2}-\d{2}[A-Za-z0-9:+.\-]*/,

    // A string's text, escapes and merges. Every part after the opening
    // quote is immediate, so no whitespace or comment is skipped inside, and
    // the text outranks a comment: the `//` of a URL is text.
    //
    // To pest a string is any characters between quotes, and what is wrong
    // in a merge is the template lexer's to report (src/syntax/template.rs):
    // so a merge here may lack its name, a filter's name or arguments, or
    // its `]` (before the string's end or the next merge), and the string
    // still parses, highlighted, as the user types.
    string: $ => seq(
      '"',
      repeat(choice(
        $.string_content,
        $.escape_sequence,
        alias($._empty_brackets, $.string_content),
        alias($._string_merge, $.merge),
        seq(alias($._unclosed_merge, $.merge), alias($._merge_after_unclosed, $.merge)),
      )),
      optional(alias($._unclosed_merge, $.merge)),
      token.immediate('"'),
    ),
    string_content: _ => token.immediate(prec(1, /[^"\\\[\n]+/)),
    // `tags[]=a` in post data: empty brackets are text, never a merge.
    _empty_brackets: _ => token.immediate(prec(1, '[]')),
    escape_sequence: _ => token.immediate(prec(1, choice(
      /\\u\{[0-9a-fA-F]{1,6}\}/,
      /\\[^u\n]/,
    ))),

    // `[Field | filter: 'arg', 2]`, inside a string or bare.
    _string_merge: $ => seq(alias(token.immediate('['), '['), optional($._merge_inside), ']'),
    _unclosed_merge: $ => seq(alias(token.immediate('['), '['), optional($._merge_inside)),
    // `[First Name [Last Name]`: the merge after an unclosed one, whose `[`
    // may follow a space.
    _merge_after_unclosed: $ => seq('[', optional($._merge_inside), ']'),
    merge: $ => seq('[', optional($._merge_inside), ']'),
    _merge_inside: $ => choice(
      seq(field('field', $.field_name), repeat($.filter)),
      repeat1($.filter),
    ),
    _json_merge: $ => seq(
      '[',
      choice(
        seq(field('field', alias($._json_field_name, $.field_name)), repeat($.filter)),
        repeat1($.filter),
      ),
      ']',
    ),
    field_name: _ => FIELD_NAME,
    _json_field_name: _ => JSON_FIELD_NAME,
    filter: $ => seq(
      '|',
      optional(field('name', $.filter_name)),
      optional(seq(':', optional(commaSep1(field('argument', choice($.filter_string, $.filter_number)))))),
    ),
    filter_name: _ => /[A-Za-z_][A-Za-z0-9_]*/,
    filter_string: _ => /'([^'\\\n]|\\.)*'/,
    filter_number: _ => /-?\d+(\.\d+)?/,
  },
});
