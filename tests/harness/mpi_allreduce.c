/* MPI smoke program for the harness self-test (from shared/docs/multihost/allreduce.c): each rank prints
   "rank R/N on HOST ... OK"; PIDDIR=dir writes dir/rankR.pid; argv[1]=S sleeps S s, then a second allreduce. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size, len; char name[MPI_MAX_PROCESSOR_NAME];
    MPI_Comm_rank(MPI_COMM_WORLD, &rank); MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(name, &len);
    const char *nn = getenv("SLURMD_NODENAME");
    long v = rank + 1, sum = 0;
    MPI_Allreduce(&v, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    printf("rank %d/%d on %s (slurmnode=%s) allreduce=%ld expected=%ld %s\n", rank, size, name,
           nn ? nn : "-", sum, (long)size * (size + 1) / 2, sum == (long)size*(size+1)/2 ? "OK" : "FAIL");
    fflush(stdout);
    const char *pd = getenv("PIDDIR");
    if (pd) { char fn[512]; snprintf(fn, sizeof fn, "%s/rank%d.pid", pd, rank); FILE *f = fopen(fn, "w"); if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); } }
    const char *mb = getenv("BIGMB");   /* optional large allreduce to make veth byte counters move */
    if (mb) { long n = atol(mb) * 131072L; double *b = malloc(n * sizeof(double)); for (long i = 0; i < n; i++) b[i] = rank + 1;
        MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        printf("rank %d big allreduce %s MB: b[0]=%g b[n-1]=%g\n", rank, mb, b[0], b[n-1]); fflush(stdout); free(b); }
    /* optional: sleep N seconds then allreduce again (used for kill tests) */
    if (argc > 1) { sleep(atoi(argv[1])); MPI_Allreduce(&v, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        printf("rank %d second allreduce=%ld\n", rank, sum); fflush(stdout); }
    MPI_Finalize();
    return 0;
}
