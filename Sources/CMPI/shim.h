#include <mpi.h>

// MPI's handles are macros (in Open MPI, addresses of library globals), which Swift cannot import:
// these functions return them. Only the handles the Distributed layer uses.
static inline MPI_Comm tir_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype tir_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tir_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype tir_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype tir_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op tir_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op tir_mpi_max(void) { return MPI_MAX; }
static inline MPI_Errhandler tir_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int tir_mpi_success(void) { return MPI_SUCCESS; }
static inline MPI_Request tir_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *tir_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
