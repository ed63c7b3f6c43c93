/* The walk of iac's YAML writer (iac/render/yaml_text.py), in C.
 *
 * A 1,000-model render is 1.1 million keys; the Python walk spends 0.7-1.1 us on each,
 * about half of `iac render`. This module does the same walk: it visits dicts and lists,
 * writes indentation, `- ` and `key:`, and looks each key and string up in the writer's
 * memo dicts. Every decision about how a value is written stays in Python: on a memo miss,
 * and for every value other than a str, a non-empty dict or list, an int, a bool or None,
 * it calls the writer's own functions (`hooks`), so there is one set of quoting rules and
 * this file knows nothing of YAML beyond layout and the words true, false and null. Tests
 * compare its output with the Python walk's, byte for byte, on the rendered examples and
 * on random data.
 *
 * walk(documents, start, keys, strings, hooks) -> str
 *   documents  a list of values, each written as one document
 *   start      the line before each document ("---"), or "" for none
 *   keys       memo: key -> "key:"           (Writer._keys)
 *   strings    memo: str -> " text"          (Writer._strings)
 *   hooks      (key_text, scalar, empty_or_scalar, literal_lines): yaml_text's functions
 *
 * The text is built as UTF-8 and decoded once at the end. A str that cannot be encoded
 * (a lone surrogate) raises UnicodeEncodeError; the caller then writes the document in
 * Python, which keeps such characters as they are.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t size;
    Py_ssize_t capacity;
    PyObject *keys;            /* borrowed */
    PyObject *strings;         /* borrowed */
    PyObject *key_text;        /* borrowed */
    PyObject *scalar;          /* borrowed */
    PyObject *empty_or_scalar; /* borrowed */
    PyObject *literal_lines;   /* borrowed */
} Out;

static PyObject *NEWLINE; /* "\n" */
static PyObject *SPACE;   /* " " */

static int
reserve(Out *out, Py_ssize_t more)
{
    if (out->size + more <= out->capacity) {
        return 0;
    }
    Py_ssize_t capacity = out->capacity;
    while (capacity < out->size + more) {
        capacity *= 2;
    }
    char *data = PyMem_Realloc(out->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    out->data = data;
    out->capacity = capacity;
    return 0;
}

static int
put(Out *out, const char *text, Py_ssize_t length)
{
    if (reserve(out, length) < 0) {
        return -1;
    }
    memcpy(out->data + out->size, text, (size_t)length);
    out->size += length;
    return 0;
}

static int
put_str(Out *out, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "YAML writer hook returned %.100s, not str",
                     Py_TYPE(text)->tp_name);
        return -1;
    }
    Py_ssize_t length;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &length);
    if (utf8 == NULL) {
        return -1;
    }
    return put(out, utf8, length);
}

static int
put_spaces(Out *out, Py_ssize_t count)
{
    if (reserve(out, count) < 0) {
        return -1;
    }
    memset(out->data + out->size, ' ', (size_t)count);
    out->size += count;
    return 0;
}

static int
put_char(Out *out, char c)
{
    if (out->size >= out->capacity && reserve(out, 1) < 0) {
        return -1;
    }
    out->data[out->size++] = c;
    return 0;
}

/* A line's start: the container's `lead` on its first line, its `pad` of spaces after. */
typedef struct {
    const char *text;
    Py_ssize_t length;
} Lead;

static int
put_lead(Out *out, Lead lead, Py_ssize_t pad, int first)
{
    return first ? put(out, lead.text, lead.length) : put_spaces(out, pad);
}

/* `lead` followed by "- ", in `buffer` if it fits, else in memory the caller frees. */
static char *
dash_lead(Lead lead, char *buffer, size_t size)
{
    char *text = (size_t)lead.length + 2 <= size ? buffer : PyMem_Malloc((size_t)lead.length + 2);
    if (text == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(text, lead.text, (size_t)lead.length);
    text[lead.length] = '-';
    text[lead.length + 1] = ' ';
    return text;
}

static int walk_dict(Out *out, PyObject *value, Py_ssize_t pad, Lead lead);
static int walk_list(Out *out, PyObject *value, Py_ssize_t pad, Lead lead);

/* An exact int as decimal digits, as str(int) writes it. */
static int
put_int(Out *out, PyObject *value)
{
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow) {
        PyObject *text = PyObject_Str(value);
        if (text == NULL) {
            return -1;
        }
        int result = put_str(out, text);
        Py_DECREF(text);
        return result;
    }
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    char digits[32];
    int length = snprintf(digits, sizeof digits, "%lld", number);
    return put(out, digits, length);
}

/* The hook's answer for `value`, written; `prefix` before it. */
static int
put_hook(Out *out, PyObject *hook, PyObject *value, const char *prefix)
{
    PyObject *text = PyObject_CallOneArg(hook, value);
    if (text == NULL) {
        return -1;
    }
    int result = put(out, prefix, (Py_ssize_t)strlen(prefix));
    if (result == 0) {
        result = put_str(out, text);
    }
    Py_DECREF(text);
    return result;
}

/* After `head` (already written): ` |-` or ` |`, then the lines at `pad`. */
static int
put_literal(Out *out, PyObject *lines, Py_ssize_t pad)
{
    if (!PyList_CheckExact(lines) || PyList_GET_SIZE(lines) == 0) {
        PyErr_SetString(PyExc_TypeError, "literal_lines must return a non-empty list");
        return -1;
    }
    Py_ssize_t count = PyList_GET_SIZE(lines);
    PyObject *last = PyList_GET_ITEM(lines, count - 1);
    if (!PyUnicode_Check(last)) {
        PyErr_SetString(PyExc_TypeError, "literal_lines must return str lines");
        return -1;
    }
    int keep_last = PyUnicode_GET_LENGTH(last) > 0;
    if (put(out, keep_last ? " |-\n" : " |\n", keep_last ? 4 : 3) < 0) {
        return -1;
    }
    if (!keep_last) {
        count -= 1; /* the final newline is the block's own `|` */
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyUnicode_Check(line)) {
            PyErr_SetString(PyExc_TypeError, "literal_lines must return str lines");
            return -1;
        }
        if (PyUnicode_GET_LENGTH(line) > 0 && (put_spaces(out, pad) < 0 || put_str(out, line) < 0)) {
            return -1;
        }
        if (put_char(out, '\n') < 0) {
            return -1;
        }
    }
    return 0;
}

/* " " + the writer's text of a str (its `scalar` hook): what the strings memo holds. */
static PyObject *
spaced_scalar(Out *out, PyObject *item)
{
    PyObject *scalar = PyObject_CallOneArg(out->scalar, item);
    if (scalar == NULL) {
        return NULL;
    }
    PyObject *text = PyUnicode_Concat(SPACE, scalar);
    Py_DECREF(scalar);
    return text;
}

/* `item` as a literal block at `pad`, if yaml_text.literal_lines says one holds it exactly:
 * 1 written, 0 not (nothing written), -1 error. */
static int
try_literal(Out *out, PyObject *item, Py_ssize_t pad)
{
    PyObject *block = PyObject_CallOneArg(out->literal_lines, item);
    if (block == NULL) {
        return -1;
    }
    int result = block == Py_None ? 0 : (put_literal(out, block, pad) < 0 ? -1 : 1);
    Py_DECREF(block);
    return result;
}

/* Is `value` a non-empty dict (or list): the `isinstance(v, dict) and v` of the Python walk. */
static int
nonempty(PyObject *value)
{
    if (PyDict_CheckExact(value)) {
        return PyDict_GET_SIZE(value) > 0;
    }
    if (PyList_CheckExact(value)) {
        return PyList_GET_SIZE(value) > 0;
    }
    return PyObject_IsTrue(value);
}

/* A mapping value, after `lead + head` has been written: yaml_text.Writer._dict's cases. */
static int
walk_value(Out *out, PyObject *item, Py_ssize_t pad)
{
    Py_ssize_t inner = pad + 2;
    if (PyUnicode_CheckExact(item)) {
        PyObject *text = PyDict_GetItemWithError(out->strings, item);
        if (text != NULL) {
            return put_str(out, text) < 0 ? -1 : put_char(out, '\n');
        }
        if (PyErr_Occurred()) {
            return -1;
        }
        int multiline = PyUnicode_Contains(item, NEWLINE);
        if (multiline < 0) {
            return -1;
        }
        if (multiline) {
            int written = try_literal(out, item, inner);
            if (written != 0) {
                return written < 0 ? -1 : 0;
            }
        }
        text = spaced_scalar(out, item);
        if (text == NULL) {
            return -1;
        }
        int result = PyDict_SetItem(out->strings, item, text);
        if (result == 0) {
            result = put_str(out, text);
        }
        Py_DECREF(text);
        return result < 0 ? -1 : put_char(out, '\n');
    }
    if (PyLong_CheckExact(item)) {
        if (put_char(out, ' ') < 0 || put_int(out, item) < 0) {
            return -1;
        }
        return put_char(out, '\n');
    }
    /* As yaml_text._scalar writes them. */
    if (item == Py_True) {
        return put(out, " true\n", 6);
    }
    if (item == Py_False) {
        return put(out, " false\n", 7);
    }
    if (item == Py_None) {
        return put(out, " null\n", 6);
    }
    if (PyDict_Check(item) || PyList_Check(item)) {
        int full = nonempty(item);
        if (full < 0) {
            return -1;
        }
        if (full) {
            if (put_char(out, '\n') < 0) {
                return -1;
            }
            /* A mapping's lines go one step in; a list's sit at the key's indent, as kubectl
             * writes them. */
            return PyDict_Check(item) ? walk_dict(out, item, inner, (Lead){NULL, -1})
                                      : walk_list(out, item, pad, (Lead){NULL, -1});
        }
        return put(out, PyDict_Check(item) ? " {}\n" : " []\n", 4);
    }
    if (PyUnicode_Check(item)) { /* a str subclass: maybe a literal block */
        int written = try_literal(out, item, inner);
        if (written != 0) {
            return written < 0 ? -1 : 0;
        }
    }
    if (put_hook(out, out->empty_or_scalar, item, " ") < 0) {
        return -1;
    }
    return put_char(out, '\n');
}

/* Spaces of `pad` as a Lead, when a container starts on its own line. */
static char SPACES[256];

static int
resolve_lead(Lead *lead, Py_ssize_t pad, char **owned)
{
    *owned = NULL;
    if (lead->length >= 0) {
        return 0;
    }
    if (pad <= (Py_ssize_t)sizeof SPACES) {
        lead->text = SPACES;
    }
    else {
        *owned = PyMem_Malloc((size_t)pad);
        if (*owned == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(*owned, ' ', (size_t)pad);
        lead->text = *owned;
    }
    lead->length = pad;
    return 0;
}

static int
walk_key(Out *out, PyObject *key, PyObject *item, Py_ssize_t pad, Lead lead, int first)
{
    PyObject *head = PyDict_GetItemWithError(out->keys, key);
    if (head != NULL) {
        Py_INCREF(head);
    }
    else {
        if (PyErr_Occurred()) {
            return -1;
        }
        head = PyObject_CallOneArg(out->key_text, key);
        if (head == NULL) {
            return -1;
        }
        if (PyUnicode_CheckExact(key) && PyDict_SetItem(out->keys, key, head) < 0) {
            Py_DECREF(head);
            return -1;
        }
    }
    int result = put_lead(out, lead, pad, first);
    if (result == 0) {
        result = put_str(out, head);
    }
    Py_DECREF(head);
    return result < 0 ? -1 : walk_value(out, item, pad);
}

static int
walk_dict(Out *out, PyObject *value, Py_ssize_t pad, Lead lead)
{
    char *owned;
    if (resolve_lead(&lead, pad, &owned) < 0) {
        return -1;
    }
    if (Py_EnterRecursiveCall(" while writing YAML")) {
        PyMem_Free(owned);
        return -1;
    }
    int result = 0;
    if (PyDict_CheckExact(value)) {
        Py_ssize_t position = 0;
        PyObject *key, *item;
        int first = 1;
        while (result == 0 && PyDict_Next(value, &position, &key, &item)) {
            /* Hooks run Python code: hold what the dict lends. */
            Py_INCREF(key);
            Py_INCREF(item);
            result = walk_key(out, key, item, pad, lead, first);
            Py_DECREF(key);
            Py_DECREF(item);
            first = 0;
        }
    }
    else { /* a dict subclass: its own items(), as the Python walk calls */
        PyObject *items = PyMapping_Items(value);
        if (items == NULL) {
            result = -1;
        }
        else {
            Py_ssize_t count = PyList_GET_SIZE(items);
            for (Py_ssize_t i = 0; result == 0 && i < count; i++) {
                PyObject *pair = PyList_GET_ITEM(items, i);
                if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                    PyErr_SetString(PyExc_TypeError, "items() must give (key, value) pairs");
                    result = -1;
                    break;
                }
                result = walk_key(out, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1),
                                  pad, lead, i == 0);
            }
            Py_DECREF(items);
        }
    }
    Py_LeaveRecursiveCall();
    PyMem_Free(owned);
    return result;
}

static int
walk_item(Out *out, PyObject *item, Py_ssize_t inner, Lead dashed)
{
    if (PyUnicode_CheckExact(item)) {
        PyObject *text = PyDict_GetItemWithError(out->strings, item);
        if (text != NULL) {
            Py_INCREF(text);
        }
        else {
            if (PyErr_Occurred()) {
                return -1;
            }
            text = spaced_scalar(out, item);
            if (text == NULL) {
                return -1;
            }
            /* A multi-line string is quoted in a list but may be a literal block as a
             * mapping value: remember only one-line strings, which are the same in both. */
            int multiline = PyUnicode_Contains(item, NEWLINE);
            if (multiline < 0 || (!multiline && PyDict_SetItem(out->strings, item, text) < 0)) {
                Py_DECREF(text);
                return -1;
            }
        }
        /* `lead + "-" + " text"`: the dashed lead without its space, then the text. */
        int result = put(out, dashed.text, dashed.length - 1);
        if (result == 0) {
            result = put_str(out, text);
        }
        Py_DECREF(text);
        return result < 0 ? -1 : put_char(out, '\n');
    }
    if (PyLong_CheckExact(item)) {
        if (put(out, dashed.text, dashed.length) < 0 || put_int(out, item) < 0) {
            return -1;
        }
        return put_char(out, '\n');
    }
    if (PyDict_Check(item) || PyList_Check(item)) {
        int full = nonempty(item);
        if (full < 0) {
            return -1;
        }
        if (full) {
            return PyDict_Check(item) ? walk_dict(out, item, inner, dashed)
                                      : walk_list(out, item, inner, dashed);
        }
    }
    if (put(out, dashed.text, dashed.length) < 0) {
        return -1;
    }
    return put_hook(out, out->empty_or_scalar, item, "") < 0 ? -1 : put_char(out, '\n');
}

static int
walk_list(Out *out, PyObject *value, Py_ssize_t pad, Lead lead)
{
    char *owned;
    if (resolve_lead(&lead, pad, &owned) < 0) {
        return -1;
    }
    PyObject *items = PyList_CheckExact(value) ? Py_NewRef(value) : PySequence_List(value);
    if (items == NULL) {
        PyMem_Free(owned);
        return -1;
    }
    if (Py_EnterRecursiveCall(" while writing YAML")) {
        Py_DECREF(items);
        PyMem_Free(owned);
        return -1;
    }
    /* Items' leads: `lead- ` for the first, `pad- ` (spaces) after. */
    char first_buffer[128], rest_buffer[128];
    char *first_text = dash_lead(lead, first_buffer, sizeof first_buffer);
    Lead spaces = {NULL, -1};
    char *spaces_owned = NULL;
    char *rest_text = NULL;
    int result = -1;
    if (first_text != NULL && resolve_lead(&spaces, pad, &spaces_owned) == 0) {
        rest_text = dash_lead(spaces, rest_buffer, sizeof rest_buffer);
    }
    if (rest_text != NULL) {
        Lead first = {first_text, lead.length + 2};
        Lead rest = {rest_text, pad + 2};
        result = 0;
        for (Py_ssize_t i = 0; result == 0 && i < PyList_GET_SIZE(items); i++) {
            PyObject *item = Py_NewRef(PyList_GET_ITEM(items, i));
            result = walk_item(out, item, pad + 2, i == 0 ? first : rest);
            Py_DECREF(item);
        }
    }
    if (first_text != NULL && first_text != first_buffer) {
        PyMem_Free(first_text);
    }
    if (rest_text != NULL && rest_text != rest_buffer) {
        PyMem_Free(rest_text);
    }
    PyMem_Free(spaces_owned);
    Py_LeaveRecursiveCall();
    Py_DECREF(items);
    PyMem_Free(owned);
    return result;
}

/* One document: the `start` line if any, then the value (yaml_text.Writer.dump). */
static int
write_document(Out *out, PyObject *value, PyObject *start)
{
    if (PyUnicode_GET_LENGTH(start) > 0 && (put_str(out, start) < 0 || put_char(out, '\n') < 0)) {
        return -1;
    }
    if (PyDict_Check(value) || PyList_Check(value)) {
        int full = nonempty(value);
        if (full < 0) {
            return -1;
        }
        if (full) {
            return PyDict_Check(value) ? walk_dict(out, value, 0, (Lead){"", 0})
                                       : walk_list(out, value, 0, (Lead){"", 0});
        }
    }
    return put_hook(out, out->empty_or_scalar, value, "") < 0 ? -1 : put_char(out, '\n');
}

static PyObject *
walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "walk(documents, start, keys, strings, hooks)");
        return NULL;
    }
    PyObject *documents = args[0], *start = args[1], *hooks = args[4];
    if (!PyList_CheckExact(documents) || !PyUnicode_Check(start) || !PyDict_CheckExact(args[2]) ||
        !PyDict_CheckExact(args[3]) || !PyTuple_CheckExact(hooks) || PyTuple_GET_SIZE(hooks) != 4) {
        PyErr_SetString(PyExc_TypeError, "walk(documents: list, start: str, keys: dict, "
                                         "strings: dict, hooks: 4-tuple)");
        return NULL;
    }
    Out out = {
        .data = PyMem_Malloc(65536),
        .size = 0,
        .capacity = 65536,
        .keys = args[2],
        .strings = args[3],
        .key_text = PyTuple_GET_ITEM(hooks, 0),
        .scalar = PyTuple_GET_ITEM(hooks, 1),
        .empty_or_scalar = PyTuple_GET_ITEM(hooks, 2),
        .literal_lines = PyTuple_GET_ITEM(hooks, 3),
    };
    if (out.data == NULL) {
        return PyErr_NoMemory();
    }
    int result = 0;
    for (Py_ssize_t i = 0; result == 0 && i < PyList_GET_SIZE(documents); i++) {
        PyObject *document = Py_NewRef(PyList_GET_ITEM(documents, i));
        result = write_document(&out, document, start);
        Py_DECREF(document);
    }
    PyObject *text = result < 0 ? NULL : PyUnicode_DecodeUTF8(out.data, out.size, NULL);
    PyMem_Free(out.data);
    return text;
}

static PyMethodDef methods[] = {
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "walk(documents, start, keys, strings, hooks) -> str: YAML documents, each after a "
     "`start` line if given (see the file's header)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_yaml_walk",
    .m_doc = "The walk of iac.render.yaml_text.Writer, in C; quoting stays in Python.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__yaml_walk(void)
{
    memset(SPACES, ' ', sizeof SPACES);
    if (NEWLINE == NULL && (NEWLINE = PyUnicode_FromString("\n")) == NULL) {
        return NULL;
    }
    if (SPACE == NULL && (SPACE = PyUnicode_FromString(" ")) == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
