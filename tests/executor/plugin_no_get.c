/* A plugin that forgets to export pc_contract_get (the loader must refuse it). */
#include "executor/executor.h"

const uint32_t pc_contract_abi_version = PC_CONTRACT_ABI_VERSION;
