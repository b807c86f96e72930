/* hinge: dispatch to one command per file. */
#include "cli.h"

#include <string.h>

extern const hg_cli_command *const hg_cli_commands[];

static void print_help(FILE *out)
{
    fprintf(out, "hinge %s: physics-aware deep learning for medical imaging\n\n"
                 "usage: hinge <command> [options]   (hinge <command> --help for details)\n\n"
                 "commands:\n",
            HINGE_VERSION);
    for (int i = 0; hg_cli_commands[i]; i++)
        fprintf(out, "  %-10s %s\n", hg_cli_commands[i]->name, hg_cli_commands[i]->summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return HG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return HG_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("hinge %s\n", HINGE_VERSION);
        return HG_EXIT_OK;
    }
    for (int i = 0; hg_cli_commands[i]; i++)
        if (strcmp(argv[1], hg_cli_commands[i]->name) == 0)
            return hg_cli_commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "hinge: unknown command '%s' (see hinge --help)\n", argv[1]);
    return HG_EXIT_USAGE;
}
