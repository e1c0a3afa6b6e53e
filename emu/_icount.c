/*
 * _icount: the instruction counter of the machine, as a Unicorn code hook in C.
 *
 * Unicorn has no retired-instruction counter, and emu_start(count=N) does not say how
 * many instructions ran when a hook stopped it early.  This hook runs before every guest
 * instruction: while `count` is below `limit` it counts the instruction, which then runs;
 * at the limit it calls uc_emu_stop, and Unicorn stops before the instruction executes.
 * So after emu_start returns, `count` is exactly the number of instructions that ran.
 *
 * The counter lives in memory owned by the caller (a ctypes structure with the layout of
 * icount_t); the address of uc_emu_stop is stored in it, so this module does not link
 * against Unicorn.  The module exports only `hook_address()`, the address of the hook to
 * register with uc_hook_add(UC_HOOK_CODE, hook, &counter, 1, 0).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    uint64_t count;                 /* instructions that ran in this slice */
    uint64_t limit;                 /* stop before running instruction number limit + 1 */
    void (*stop)(void *uc);         /* uc_emu_stop */
} icount_t;

static void icount_hook(void *uc, uint64_t address, uint32_t size, void *user_data)
{
    icount_t *counter = (icount_t *)user_data;
    (void)address;
    (void)size;
    if (counter->count >= counter->limit) {
        counter->stop(uc);
        return;
    }
    counter->count++;
}

static PyObject *hook_address(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromVoidPtr((void *)icount_hook);
}

static PyMethodDef methods[] = {
    {"hook_address", hook_address, METH_NOARGS, "Address of the counting code hook."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_icount", "Exact instruction counting for Unicorn.", -1, methods,
};

PyMODINIT_FUNC PyInit__icount(void)
{
    return PyModule_Create(&module);
}
