/*
 * _cpuhooks: the per-instruction and per-trap hooks of the machine, and its slice runner,
 * in C.  These are the hot paths of the emulator; everything else stays in Python.
 *
 * - The instruction counter (which also keeps the address of the instruction that runs,
 *   so a fault names its instruction exactly): Unicorn has no retired-instruction counter, and
 *   emu_start(count=N) does not say how many instructions ran when a hook stopped it
 *   early.  `count_hook` runs before every guest instruction: below `limit` it counts
 *   the instruction, which then runs; at the limit it calls uc_emu_stop and Unicorn stops
 *   before the instruction executes.  So `count` is exact.  A hook that wants the CPU to
 *   stop after the current instruction sets `limit = count`.
 * - The trap: `intr_hook` reads eax, ebx, ecx of an `int <ipc vector>` and calls the
 *   kernel's `on_ipc(eax, ebx, ecx)`; an int result goes into eax, None leaves eax alone
 *   (the caller blocked or is gone).  Any other vector calls `on_exception(vector)`.
 * - `run(context, budget, result)` writes a pending result into eax, reads eip and runs
 *   one slice with uc_emu_start, returning the instructions it ran (`count`) and leaving
 *   uc_emu_start's status in `status`.  The GIL stays held: hooks that call Python take
 *   it again with PyGILState_Ensure, which is cheap for its holder.
 * - `stop(context)` sets `limit = count`: the CPU stops before its next instruction (what
 *   a trap handler does when its process must not go on).
 *
 * The context is a ctypes structure owned by Python (emu.unicorn_fast.CpuContext), with
 * the layout of cpu_context_t.  The Unicorn functions are handed over once by `init`, so
 * this module does not link against Unicorn.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef int (*emu_start_t)(void *uc, uint64_t begin, uint64_t until, uint64_t timeout,
                           size_t count);
typedef int (*emu_stop_t)(void *uc);
typedef int (*reg_read_t)(void *uc, int regid, void *value);
typedef int (*reg_write_t)(void *uc, int regid, const void *value);

typedef struct {
    uint64_t count;          /* instructions run in this slice */
    uint64_t limit;          /* stop before running instruction number limit + 1 */
    void *uc;                /* the uc_engine */
    uint64_t pc;             /* address of the instruction that ran last (or runs now) */
    PyObject *on_ipc;        /* callable(eax, ebx, ecx) -> int or None */
    PyObject *on_exception;  /* callable(vector) -> None */
    int64_t status;          /* uc_emu_start's status of the last slice */
} cpu_context_t;

static struct {
    emu_start_t emu_start;
    emu_stop_t emu_stop;
    reg_read_t reg_read;
    reg_write_t reg_write;
    int eax, ebx, ecx, eip;
    uint32_t ipc_vector;
    uint64_t until;
    int ready;
} api;

static void count_hook(void *uc, uint64_t address, uint32_t size, void *user_data)
{
    cpu_context_t *context = (cpu_context_t *)user_data;
    (void)size;
    if (context->count >= context->limit) {
        api.emu_stop(uc);
        return;
    }
    context->count++;
    context->pc = address;
}

static void intr_hook(void *uc, uint32_t vector, void *user_data)
{
    cpu_context_t *context = (cpu_context_t *)user_data;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *result;
    PyObject *callable;

    if (vector == api.ipc_vector) {
        uint32_t eax = 0, ebx = 0, ecx = 0;
        PyObject *args[3];
        api.reg_read(uc, api.eax, &eax);
        api.reg_read(uc, api.ebx, &ebx);
        api.reg_read(uc, api.ecx, &ecx);
        args[0] = PyLong_FromUnsignedLong(eax);
        args[1] = PyLong_FromUnsignedLong(ebx);
        args[2] = PyLong_FromUnsignedLong(ecx);
        callable = context->on_ipc;
        result = PyObject_Vectorcall(callable, args, 3, NULL);
        Py_DECREF(args[0]);
        Py_DECREF(args[1]);
        Py_DECREF(args[2]);
        if (result != NULL && result != Py_None) {
            long value = PyLong_AsLong(result);
            if (value == -1 && PyErr_Occurred()) {
                PyErr_WriteUnraisable(callable);
                context->limit = context->count;
            } else {
                uint32_t eax_out = (uint32_t)value;
                api.reg_write(uc, api.eax, &eax_out);
            }
        }
    } else {
        PyObject *arg = PyLong_FromUnsignedLong(vector);
        callable = context->on_exception;
        result = PyObject_Vectorcall(callable, &arg, 1, NULL);
        Py_DECREF(arg);
    }
    if (result == NULL) {            /* the callables catch everything: a bug of ours */
        PyErr_WriteUnraisable(callable);
        context->limit = context->count;
    }
    Py_XDECREF(result);
    PyGILState_Release(gil);
}

static PyObject *init(PyObject *self, PyObject *args)
{
    unsigned long long start, stop, read, write, until;
    int eax, ebx, ecx, eip;
    unsigned int vector;
    (void)self;
    if (!PyArg_ParseTuple(args, "KKKKiiiiIK", &start, &stop, &read, &write, &eax, &ebx,
                          &ecx, &eip, &vector, &until))
        return NULL;
    api.emu_start = (emu_start_t)(uintptr_t)start;
    api.emu_stop = (emu_stop_t)(uintptr_t)stop;
    api.reg_read = (reg_read_t)(uintptr_t)read;
    api.reg_write = (reg_write_t)(uintptr_t)write;
    api.eax = eax;
    api.ebx = ebx;
    api.ecx = ecx;
    api.eip = eip;
    api.ipc_vector = vector;
    api.until = until;
    api.ready = 1;
    Py_RETURN_NONE;
}

static PyObject *run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    cpu_context_t *context;
    unsigned long long budget;
    uint32_t eip = 0;
    int status;
    (void)self;
    if (nargs != 3 || !api.ready) {
        PyErr_SetString(PyExc_TypeError, "run(context, budget, result) after init()");
        return NULL;
    }
    context = (cpu_context_t *)PyLong_AsVoidPtr(args[0]);
    budget = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred())
        return NULL;
    if (args[2] != Py_None) {
        long value = PyLong_AsLong(args[2]);
        uint32_t eax_out = (uint32_t)value;
        if (value == -1 && PyErr_Occurred())
            return NULL;
        api.reg_write(context->uc, api.eax, &eax_out);
    }
    context->count = 0;
    context->limit = budget;
    api.reg_read(context->uc, api.eip, &eip);
    status = api.emu_start(context->uc, eip, api.until, 0, 0);
    context->status = status;
    return PyLong_FromUnsignedLongLong(context->count);
}

static PyObject *stop(PyObject *self, PyObject *address)
{
    cpu_context_t *context = (cpu_context_t *)PyLong_AsVoidPtr(address);
    (void)self;
    if (context == NULL)
        return NULL;
    context->limit = context->count;
    Py_RETURN_NONE;
}

static PyObject *addresses(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("(KK)", (unsigned long long)(uintptr_t)count_hook,
                         (unsigned long long)(uintptr_t)intr_hook);
}

static PyMethodDef methods[] = {
    {"init", init, METH_VARARGS, "Hand over the Unicorn functions and register ids."},
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL, "Run one slice."},
    {"stop", stop, METH_O, "Stop the CPU before its next instruction."},
    {"addresses", addresses, METH_NOARGS, "(count hook, interrupt hook) addresses."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cpuhooks", "The machine's hot paths in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__cpuhooks(void)
{
    return PyModule_Create(&module);
}
